//! A PresentationML writer, by hand with `zip` and `quick-xml`: what the deck needs and no
//! more — text, real tables, native charts with their workbooks, pictures, speaker notes —
//! as a package that PowerPoint, LibreOffice and python-pptx open without repair. One
//! module per part; [`lint`] checks a written package.

mod chart;
pub mod lint;
mod master;
mod notes;
mod package;
mod props;
mod slide;
mod theme;
mod workbook;
pub mod xml;

pub use slide::row_height;
pub use theme::ACCENTS;

use chrono::{DateTime, Utc};
use package::{ct, rt, Part, Rel};

pub const NS_A: &str = "http://schemas.openxmlformats.org/drawingml/2006/main";
pub const NS_R: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
pub const NS_P: &str = "http://schemas.openxmlformats.org/presentationml/2006/main";
pub const NS_C: &str = "http://schemas.openxmlformats.org/drawingml/2006/chart";
/// The namespaces every PresentationML part's root element declares.
pub const PML_NS: [(&str, &str); 3] = [("xmlns:a", NS_A), ("xmlns:r", NS_R), ("xmlns:p", NS_P)];

/// 16:9, in EMU (914,400 per inch).
pub const SLIDE_W: i64 = 12_192_000;
pub const SLIDE_H: i64 = 6_858_000;
pub const EMU_PER_PT: i64 = 12_700;

/// A rectangle on a slide, in EMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
}

impl Rect {
    pub const fn new(x: i64, y: i64, w: i64, h: i64) -> Rect {
        Rect { x, y, w, h }
    }
}

/// A colour as six hex digits.
pub type Rgb = String;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

/// One paragraph of one run.
#[derive(Clone, Debug, Default)]
pub struct Para {
    pub text: String,
    /// Points.
    pub size: f32,
    pub bold: bool,
    pub color: Option<Rgb>,
    pub align: Align,
}

impl Para {
    pub fn new(text: impl Into<String>, size: f32) -> Para {
        Para {
            text: text.into(),
            size,
            ..Para::default()
        }
    }
    pub fn bold(mut self) -> Para {
        self.bold = true;
        self
    }
    pub fn color(mut self, c: &str) -> Para {
        self.color = Some(c.to_string());
        self
    }
    pub fn align(mut self, a: Align) -> Para {
        self.align = a;
        self
    }
}

#[derive(Clone, Debug, Default)]
pub struct Cell {
    pub text: String,
    pub fill: Option<Rgb>,
    pub color: Option<Rgb>,
    pub bold: bool,
    pub align: Align,
}

impl Cell {
    pub fn new(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            ..Cell::default()
        }
    }
    pub fn fill(mut self, c: &str) -> Cell {
        self.fill = Some(c.to_string());
        self
    }
    pub fn right(mut self) -> Cell {
        self.align = Align::Right;
        self
    }
}

/// A real PowerPoint table: a header row and body rows.
#[derive(Clone, Debug)]
pub struct Table {
    pub rect: Rect,
    /// Relative widths; scaled to the rectangle.
    pub widths: Vec<u32>,
    pub header: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// Points.
    pub size: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartKind {
    Line,
    /// Clustered columns.
    Bar,
    /// Horizontal clustered bars (one per category, for long category lists).
    BarHorizontal,
    StackedArea,
}

#[derive(Clone, Debug)]
pub struct ChartSeries {
    pub name: String,
    pub color: Rgb,
    /// One value per category; NaN or infinite is a gap (no point, a blank cell).
    pub values: Vec<f64>,
    /// Drawn dashed (a previous week beside this one).
    pub dashed: bool,
}

/// A native chart: PowerPoint draws it from the cached values and "Edit Data" opens the
/// embedded workbook that holds the same values.
#[derive(Clone, Debug)]
pub struct Chart {
    pub rect: Rect,
    pub kind: ChartKind,
    pub title: String,
    pub categories: Vec<String>,
    pub series: Vec<ChartSeries>,
    /// Excel number format of the values axis and cells (`0.0`, `0%`, ...).
    pub number_format: String,
    pub y_title: String,
    /// A category label every this many categories (0: about a dozen along the axis).
    pub label_every: usize,
    /// Fixed ends of the value axis (automatic when `None`).
    pub y_min: Option<f64>,
    pub y_max: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct Picture {
    pub rect: Rect,
    pub png: Vec<u8>,
    /// Alternative text.
    pub description: String,
}

#[derive(Clone, Debug)]
pub enum Shape {
    Text { rect: Rect, paras: Vec<Para> },
    Table(Table),
    Chart(Chart),
    Picture(Picture),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The title slide: a centred title and a subtitle.
    Title,
    /// A title at the top, the rest is the slide's shapes.
    TitleOnly,
}

#[derive(Clone, Debug)]
pub struct Slide {
    pub layout: Layout,
    pub title: String,
    /// For [`Layout::Title`]: the subtitle lines.
    pub subtitle: Vec<String>,
    pub shapes: Vec<Shape>,
    /// Speaker notes, one paragraph per line.
    pub notes: String,
}

#[derive(Clone, Debug)]
pub struct Deck {
    pub title: String,
    pub subject: String,
    pub created: DateTime<Utc>,
    pub generator: String,
    pub slides: Vec<Slide>,
}

#[derive(Debug, thiserror::Error)]
pub enum PptxError {
    #[error("writing the deck's ZIP: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("writing the workbook of chart {chart:?}: {message}")]
    Workbook { chart: String, message: String },
}

/// Write the deck as a `.pptx` package.
pub fn write(deck: &Deck) -> Result<Vec<u8>, PptxError> {
    let mut parts: Vec<Part> = Vec::new();
    let mut pres = Part::new("ppt/presentation.xml", ct::PRESENTATION, Vec::new());
    let master_rid = pres.rel(rt::MASTER, "ppt/slideMasters/slideMaster1.xml");
    let notes_master_rid = pres.rel(rt::NOTES_MASTER, "ppt/notesMasters/notesMaster1.xml");
    pres.rel(rt::PRES_PROPS, "ppt/presProps.xml");
    pres.rel(rt::VIEW_PROPS, "ppt/viewProps.xml");
    pres.rel(rt::THEME, "ppt/theme/theme1.xml");
    pres.rel(rt::TABLE_STYLES, "ppt/tableStyles.xml");

    let mut slide_rids = Vec::new();
    let (mut charts, mut images) = (0usize, 0usize);
    for (i, s) in deck.slides.iter().enumerate() {
        let n = i + 1;
        let name = format!("ppt/slides/slide{n}.xml");
        slide_rids.push(pres.rel(rt::SLIDE, &name));
        let mut part = Part::new(&name, ct::SLIDE, Vec::new());
        let layout = match s.layout {
            Layout::Title => 1,
            Layout::TitleOnly => 2,
        };
        part.rel(
            rt::LAYOUT,
            format!("ppt/slideLayouts/slideLayout{layout}.xml"),
        );
        let notes_name = format!("ppt/notesSlides/notesSlide{n}.xml");
        part.rel(rt::NOTES, &notes_name);
        let mut extra = Vec::new();
        part.data = slide::slide(s, &mut |shape| match shape {
            slide::Embed::Chart(c) => {
                charts += 1;
                let chart_name = format!("ppt/charts/chart{charts}.xml");
                let book = format!("ppt/embeddings/Microsoft_Excel_Worksheet{charts}.xlsx");
                let mut cp = Part::new(&chart_name, ct::CHART, Vec::new());
                let book_rid = cp.rel(rt::PACKAGE, &book);
                cp.data = chart::chart(c, &book_rid);
                let wb = workbook::workbook(c, deck.created).map_err(|e| PptxError::Workbook {
                    chart: c.title.clone(),
                    message: e.to_string(),
                });
                extra.push(cp);
                match wb {
                    Ok(wb) => extra.push(Part::new(book, ct::XLSX, wb)),
                    Err(e) => return Err(e),
                }
                Ok(part_rel(&mut part.rels, rt::CHART, chart_name))
            }
            slide::Embed::Image(png) => {
                images += 1;
                let image_name = format!("ppt/media/image{images}.png");
                extra.push(Part::new(&image_name, ct::PNG, png.to_vec()));
                Ok(part_rel(&mut part.rels, rt::IMAGE, image_name))
            }
        })?;
        let mut notes = Part::new(&notes_name, ct::NOTES, notes::notes(&s.notes));
        notes.rel(rt::NOTES_MASTER, "ppt/notesMasters/notesMaster1.xml");
        notes.rel(rt::SLIDE, &name);
        parts.push(part);
        parts.push(notes);
        parts.extend(extra);
    }
    pres.data = props::presentation(&master_rid, &notes_master_rid, &slide_rids);

    let mut master = Part::new(
        "ppt/slideMasters/slideMaster1.xml",
        ct::MASTER,
        master::master(),
    );
    for l in 1..=2 {
        master.rel(rt::LAYOUT, format!("ppt/slideLayouts/slideLayout{l}.xml"));
    }
    master.rel(rt::THEME, "ppt/theme/theme1.xml");
    let mut fixed = vec![pres, master];
    for l in 0..2 {
        let mut p = Part::new(
            format!("ppt/slideLayouts/slideLayout{}.xml", l + 1),
            ct::LAYOUT,
            master::layout(l),
        );
        p.rel(rt::MASTER, "ppt/slideMasters/slideMaster1.xml");
        fixed.push(p);
    }
    let mut nm = Part::new(
        "ppt/notesMasters/notesMaster1.xml",
        ct::NOTES_MASTER,
        master::notes_master(),
    );
    nm.rel(rt::THEME, "ppt/theme/theme2.xml");
    fixed.push(nm);
    fixed.push(Part::new(
        "ppt/theme/theme1.xml",
        ct::THEME,
        theme::theme("meshscope"),
    ));
    fixed.push(Part::new(
        "ppt/theme/theme2.xml",
        ct::THEME,
        theme::theme("meshscope notes"),
    ));
    fixed.push(Part::new(
        "ppt/presProps.xml",
        ct::PRES_PROPS,
        props::pres_props(),
    ));
    fixed.push(Part::new(
        "ppt/viewProps.xml",
        ct::VIEW_PROPS,
        props::view_props(),
    ));
    fixed.push(Part::new(
        "ppt/tableStyles.xml",
        ct::TABLE_STYLES,
        props::table_styles(),
    ));
    fixed.push(Part::new("docProps/core.xml", ct::CORE, props::core(deck)));
    fixed.push(Part::new("docProps/app.xml", ct::APP, props::app(deck)));
    fixed.extend(parts);

    let package_rels = [
        Rel {
            kind: rt::OFFICE_DOCUMENT,
            target: "ppt/presentation.xml".into(),
        },
        Rel {
            kind: rt::CORE,
            target: "docProps/core.xml".into(),
        },
        Rel {
            kind: rt::APP,
            target: "docProps/app.xml".into(),
        },
    ];
    Ok(package::write(&package_rels, &fixed)?)
}

fn part_rel(rels: &mut Vec<Rel>, kind: &'static str, target: String) -> String {
    rels.push(Rel { kind, target });
    format!("rId{}", rels.len())
}

/// A deck with every kind of shape and hostile text, for the package's own tests and the
/// readers' checks.
#[cfg(test)]
pub(crate) fn sample_deck(label: &str) -> Deck {
    use chrono::TimeZone;
    let created = Utc
        .with_ymd_and_hms(2026, 11, 23, 7, 0, 0)
        .single()
        .unwrap_or_default();
    let cats: Vec<String> = (0..48).map(|h| format!("{label} {h:02}:00")).collect();
    let chart = |kind, values: Vec<f64>| Chart {
        rect: Rect::new(457_200, 1_143_000, 7_000_000, 4_800_000),
        kind,
        title: format!("Chart of {label}"),
        categories: cats.clone(),
        series: vec![
            ChartSeries {
                name: label.to_string(),
                color: ACCENTS[0].into(),
                values: values.clone(),
                dashed: false,
            },
            ChartSeries {
                name: format!("{label} previous"),
                color: ACCENTS[1].into(),
                values: values.iter().map(|v| v * 2.0).collect(),
                dashed: true,
            },
        ],
        number_format: "0.0".into(),
        y_title: "msg/s".into(),
        label_every: 0,
        y_min: None,
        y_max: Some(1e301),
    };
    let mut values: Vec<f64> = (0..48)
        .map(|i| (i as f64 * 0.3).sin() * 100.0 + 100.0)
        .collect();
    values[5] = f64::NAN;
    values[6] = f64::INFINITY;
    values[7] = 1e300;
    values[8] = -1e-300;
    let png = {
        let mut b = Vec::new();
        // The smallest valid PNG: 1x1, grey.
        b.extend_from_slice(&[
            0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 0x49, 0x48, 0x44, 0x52,
            0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0, 0x3A, 0x7E, 0x9B, 0x55, 0, 0, 0, 0x0A, 0x49,
            0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x68, 0, 0, 0, 0x82, 0, 0x81, 0x4C, 0x17, 0xD7,
            0xDF, 0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
        ]);
        b
    };
    Deck {
        title: format!("Deck {label}"),
        subject: "test".into(),
        created,
        generator: "meshscope test".into(),
        slides: vec![
            Slide {
                layout: Layout::Title,
                title: format!("Title {label}"),
                subtitle: vec![label.to_string(), "second line".into()],
                shapes: vec![],
                notes: format!("notes {label}\nline two"),
            },
            Slide {
                layout: Layout::TitleOnly,
                title: format!("Table {label}"),
                subtitle: vec![],
                shapes: vec![
                    Shape::Table(Table {
                        rect: Rect::new(457_200, 1_143_000, 11_000_000, 0),
                        widths: vec![3, 1, 1],
                        header: vec!["node".into(), label.into(), "c".into()],
                        rows: vec![
                            vec![
                                Cell::new(label).fill("3A9D5D"),
                                Cell::new("1").right(),
                                Cell::new(""),
                            ],
                            vec![Cell::new("x")],
                        ],
                        size: 12.0,
                    }),
                    Shape::Text {
                        rect: Rect::new(457_200, 5_000_000, 11_000_000, 800_000),
                        paras: vec![
                            Para::new(label, 14.0).bold().color("C0392B"),
                            Para::new("", 14.0),
                        ],
                    },
                ],
                notes: String::new(),
            },
            Slide {
                layout: Layout::TitleOnly,
                title: "Charts".into(),
                subtitle: vec![],
                shapes: vec![
                    Shape::Chart(chart(ChartKind::Line, values.clone())),
                    Shape::Chart(chart(ChartKind::Bar, values.clone())),
                    Shape::Chart(chart(ChartKind::BarHorizontal, values.clone())),
                    Shape::Chart(chart(ChartKind::StackedArea, values.clone())),
                    Shape::Picture(Picture {
                        rect: Rect::new(8_000_000, 1_143_000, 3_000_000, 3_000_000),
                        png,
                        description: label.to_string(),
                    }),
                ],
                notes: label.to_string(),
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str =
        "a&b <c> \"q\" 'a' \u{0}\u{1}\u{8}\u{B}\u{1F} \u{FFFE}\u{FFFF} 😀 مرحبا שלום ]]> &amp;";

    #[test]
    fn sample_deck_is_clean_and_reproducible() {
        let deck = sample_deck(HOSTILE);
        let a = write(&deck).unwrap_or_default();
        let b = write(&deck).unwrap_or_default();
        assert!(!a.is_empty());
        assert_eq!(a, b, "identical input gives identical bytes");
        assert_eq!(lint::lint(&a), Vec::<String>::new());
        if let Ok(dir) = std::env::var("MESHSCOPE_PPTX_SAMPLE_DIR") {
            let _ = std::fs::write(format!("{dir}/sample.pptx"), &a);
        }
    }

    #[test]
    fn lint_catches_a_broken_package() {
        let deck = sample_deck("x");
        let good = write(&deck).unwrap_or_default();
        // Rewrite the package without one chart part and its relationships: the slide's
        // relationship no longer resolves and the chart's workbook is unreachable.
        let mut z =
            zip::ZipArchive::new(std::io::Cursor::new(good)).unwrap_or_else(|e| panic!("{e}"));
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for i in 0..z.len() {
            let mut f = z.by_index(i).unwrap_or_else(|e| panic!("{e}"));
            if f.name().starts_with("ppt/charts/") && f.name().contains("chart2.xml") {
                continue;
            }
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut data).unwrap_or_default();
            let name = f.name().to_string();
            w.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap_or_else(|e| panic!("{e}"));
            std::io::Write::write_all(&mut w, &data).unwrap_or_default();
        }
        let bad = w.finish().unwrap_or_else(|e| panic!("{e}")).into_inner();
        let findings = lint::lint(&bad);
        assert!(
            findings
                .iter()
                .any(|f| f.contains("missing part ppt/charts/chart2.xml")),
            "{findings:?}"
        );
        assert!(
            findings
                .iter()
                .any(|f| f.contains("Worksheet2.xlsx: orphan part")),
            "{findings:?}"
        );
    }
}
