//! The package (OPC) layer: parts with their content types and relationships, written
//! to a ZIP in a fixed order with fixed timestamps, so identical decks are identical bytes.

use std::io::Write;

use zip::write::SimpleFileOptions;

use super::xml::Xml;

pub mod ct {
    pub const PRESENTATION: &str =
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml";
    pub const SLIDE: &str =
        "application/vnd.openxmlformats-officedocument.presentationml.slide+xml";
    pub const LAYOUT: &str =
        "application/vnd.openxmlformats-officedocument.presentationml.slideLayout+xml";
    pub const MASTER: &str =
        "application/vnd.openxmlformats-officedocument.presentationml.slideMaster+xml";
    pub const NOTES_MASTER: &str =
        "application/vnd.openxmlformats-officedocument.presentationml.notesMaster+xml";
    pub const NOTES: &str =
        "application/vnd.openxmlformats-officedocument.presentationml.notesSlide+xml";
    pub const PRES_PROPS: &str =
        "application/vnd.openxmlformats-officedocument.presentationml.presProps+xml";
    pub const VIEW_PROPS: &str =
        "application/vnd.openxmlformats-officedocument.presentationml.viewProps+xml";
    pub const TABLE_STYLES: &str =
        "application/vnd.openxmlformats-officedocument.presentationml.tableStyles+xml";
    pub const THEME: &str = "application/vnd.openxmlformats-officedocument.theme+xml";
    pub const CHART: &str = "application/vnd.openxmlformats-officedocument.drawingml.chart+xml";
    pub const CORE: &str = "application/vnd.openxmlformats-package.core-properties+xml";
    pub const APP: &str = "application/vnd.openxmlformats-officedocument.extended-properties+xml";
    pub const RELS: &str = "application/vnd.openxmlformats-package.relationships+xml";
    pub const XML: &str = "application/xml";
    pub const PNG: &str = "image/png";
    pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
}

pub mod rt {
    pub const OFFICE_DOCUMENT: &str =
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument";
    pub const CORE: &str =
        "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties";
    pub const APP: &str =
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties";
    pub const MASTER: &str =
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/slideMaster";
    pub const LAYOUT: &str =
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/slideLayout";
    pub const SLIDE: &str =
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide";
    pub const NOTES_MASTER: &str =
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesMaster";
    pub const NOTES: &str =
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide";
    pub const THEME: &str =
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/theme";
    pub const PRES_PROPS: &str =
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/presProps";
    pub const VIEW_PROPS: &str =
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/viewProps";
    pub const TABLE_STYLES: &str =
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/tableStyles";
    pub const CHART: &str =
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/chart";
    pub const IMAGE: &str =
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/image";
    pub const PACKAGE: &str =
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/package";
}

/// A relationship from one part to another, by the target's absolute part name.
#[derive(Clone, Debug)]
pub struct Rel {
    pub kind: &'static str,
    pub target: String,
}

/// One part of the package. Its relationships get ids `rId1`, `rId2`, ... in order.
#[derive(Clone, Debug)]
pub struct Part {
    /// Absolute part name without the leading slash: `ppt/slides/slide1.xml`.
    pub name: String,
    pub content_type: &'static str,
    pub data: Vec<u8>,
    pub rels: Vec<Rel>,
}

impl Part {
    pub fn new(name: impl Into<String>, content_type: &'static str, data: Vec<u8>) -> Part {
        Part {
            name: name.into(),
            content_type,
            data,
            rels: Vec::new(),
        }
    }

    /// Add a relationship; returns its id.
    pub fn rel(&mut self, kind: &'static str, target: impl Into<String>) -> String {
        self.rels.push(Rel {
            kind,
            target: target.into(),
        });
        format!("rId{}", self.rels.len())
    }
}

/// The relationships part's name for a part (`_rels/.rels` for the package, `""`).
pub fn rels_name(part: &str) -> String {
    match part.rfind('/') {
        Some(i) => format!("{}/_rels/{}.rels", &part[..i], &part[i + 1..]),
        None => format!("_rels/{part}.rels"),
    }
}

/// `target` relative to the folder of `from` (`ppt/slides/slide1.xml` to
/// `ppt/charts/chart1.xml` is `../charts/chart1.xml`).
pub fn relative(from: &str, target: &str) -> String {
    let base: Vec<&str> = from.split('/').collect();
    let base = &base[..base.len().saturating_sub(1)];
    let t: Vec<&str> = target.split('/').collect();
    let common = base.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out: Vec<&str> = vec![".."; base.len() - common];
    out.extend(&t[common..]);
    out.join("/")
}

fn rels_xml(from: &str, rels: &[Rel]) -> Vec<u8> {
    let mut x = Xml::new();
    x.open(
        "Relationships",
        &[(
            "xmlns",
            "http://schemas.openxmlformats.org/package/2006/relationships",
        )],
    );
    for (i, r) in rels.iter().enumerate() {
        let target = if from.is_empty() {
            r.target.clone()
        } else {
            relative(from, &r.target)
        };
        x.empty(
            "Relationship",
            &[
                ("Id", &format!("rId{}", i + 1)),
                ("Type", r.kind),
                ("Target", &target),
            ],
        );
    }
    x.finish()
}

fn content_types(parts: &[Part]) -> Vec<u8> {
    let mut x = Xml::new();
    x.open(
        "Types",
        &[(
            "xmlns",
            "http://schemas.openxmlformats.org/package/2006/content-types",
        )],
    );
    x.empty(
        "Default",
        &[("Extension", "rels"), ("ContentType", ct::RELS)],
    );
    x.empty("Default", &[("Extension", "xml"), ("ContentType", ct::XML)]);
    let mut defaults: Vec<(&str, &str)> = Vec::new();
    for p in parts {
        let ext = match p.content_type {
            ct::PNG => "png",
            ct::XLSX => "xlsx",
            _ => continue,
        };
        if !defaults.iter().any(|(e, _)| *e == ext) {
            defaults.push((ext, p.content_type));
        }
    }
    for (ext, t) in defaults {
        x.empty("Default", &[("Extension", ext), ("ContentType", t)]);
    }
    for p in parts {
        if !matches!(p.content_type, ct::PNG | ct::XLSX) {
            x.empty(
                "Override",
                &[
                    ("PartName", &format!("/{}", p.name)),
                    ("ContentType", p.content_type),
                ],
            );
        }
    }
    x.finish()
}

/// Write the package: content types, the package relationships, then each part followed
/// by its relationships. Deflate, entries dated 1980-01-01 (ZIP's epoch), no extra fields.
pub fn write(package_rels: &[Rel], parts: &[Part]) -> zip::result::ZipResult<Vec<u8>> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    // PNGs and workbooks are compressed already.
    let stored = opts.compression_method(zip::CompressionMethod::Stored);
    z.start_file("[Content_Types].xml", opts)?;
    z.write_all(&content_types(parts))?;
    z.start_file("_rels/.rels", opts)?;
    z.write_all(&rels_xml("", package_rels))?;
    for p in parts {
        let o = if matches!(p.content_type, ct::PNG | ct::XLSX) {
            stored
        } else {
            opts
        };
        z.start_file(p.name.as_str(), o)?;
        z.write_all(&p.data)?;
        if !p.rels.is_empty() {
            z.start_file(rels_name(&p.name), opts)?;
            z.write_all(&rels_xml(&p.name, &p.rels))?;
        }
    }
    Ok(z.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_targets() {
        assert_eq!(
            relative("ppt/slides/slide1.xml", "ppt/charts/chart1.xml"),
            "../charts/chart1.xml"
        );
        assert_eq!(
            relative("ppt/presentation.xml", "ppt/slides/slide1.xml"),
            "slides/slide1.xml"
        );
        assert_eq!(
            relative("ppt/charts/chart1.xml", "ppt/embeddings/book1.xlsx"),
            "../embeddings/book1.xlsx"
        );
        assert_eq!(
            rels_name("ppt/slides/slide1.xml"),
            "ppt/slides/_rels/slide1.xml.rels"
        );
    }
}
