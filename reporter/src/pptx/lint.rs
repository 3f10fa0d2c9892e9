//! The package lint: what a reader needs to open a deck without repair, checked on the
//! bytes we wrote. Every entry is well-formed XML (or a PNG/workbook), every part has a
//! content type, every relationship resolves, every part is reachable from the package
//! relationships, every `r:id`/`r:embed` names a relationship of its part, slide ids are
//! from 256 and unique, master and layout ids from 2^31 and distinct, and shape ids are
//! unique within each slide.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use quick_xml::events::Event;

use super::package::rels_name;

/// One XML element as the lint sees it: its name and attributes.
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
}

/// Parse a part fully (checking that it is well-formed) and collect its elements.
fn elements(name: &str, data: &[u8]) -> Result<Vec<Element>, String> {
    let text = std::str::from_utf8(data).map_err(|e| format!("{name}: not UTF-8: {e}"))?;
    let mut r = quick_xml::Reader::from_str(text);
    r.config_mut().check_end_names = true;
    let mut out = Vec::new();
    let mut depth = 0i64;
    let mut roots = 0;
    loop {
        match r.read_event() {
            Ok(ev @ (Event::Start(_) | Event::Empty(_))) => {
                let (e, open) = match ev {
                    Event::Start(e) => (e, true),
                    Event::Empty(e) => (e, false),
                    _ => continue,
                };
                if depth == 0 {
                    roots += 1;
                }
                let mut attrs = Vec::new();
                for a in e.attributes() {
                    let a = a.map_err(|e| format!("{name}: bad attribute: {e}"))?;
                    let v = a
                        .unescape_value()
                        .map_err(|e| format!("{name}: bad attribute value: {e}"))?;
                    attrs.push((
                        String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                        v.into_owned(),
                    ));
                }
                out.push(Element {
                    name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                    attrs,
                });
                if open {
                    depth += 1;
                }
            }
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Text(t)) => {
                t.unescape().map_err(|e| format!("{name}: bad text: {e}"))?;
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(format!(
                    "{name}: not well-formed at byte {}: {e}",
                    r.buffer_position()
                ))
            }
        }
    }
    if roots != 1 {
        return Err(format!("{name}: {roots} root elements, want 1"));
    }
    Ok(out)
}

fn attr<'a>(e: &'a Element, k: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|(a, _)| a == k)
        .map(|(_, v)| v.as_str())
}

/// Resolve a relationship target against the folder of its source part.
fn resolve(source: &str, target: &str) -> String {
    if let Some(abs) = target.strip_prefix('/') {
        return abs.to_string();
    }
    let mut parts: Vec<&str> = source.split('/').collect();
    parts.pop();
    for seg in target.split('/') {
        match seg {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// The findings for a package; empty when it is clean.
pub fn lint(bytes: &[u8]) -> Vec<String> {
    let mut findings = Vec::new();
    let mut z = match zip::ZipArchive::new(std::io::Cursor::new(bytes)) {
        Ok(z) => z,
        Err(e) => return vec![format!("not a ZIP package: {e}")],
    };
    let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = match z.by_index(i) {
            Ok(f) => f,
            Err(e) => {
                findings.push(format!("entry {i}: {e}"));
                continue;
            }
        };
        let mut data = Vec::new();
        if let Err(e) = f.read_to_end(&mut data) {
            findings.push(format!("{}: {e}", f.name()));
        }
        if entries.insert(f.name().to_string(), data).is_some() {
            findings.push(format!("{}: entry appears twice", f.name()));
        }
    }
    let Some(ct) = entries.get("[Content_Types].xml") else {
        findings.push("[Content_Types].xml is missing".into());
        return findings;
    };
    let (mut defaults, mut overrides) = (BTreeMap::new(), BTreeMap::new());
    match elements("[Content_Types].xml", ct) {
        Ok(els) => {
            for e in &els {
                match e.name.as_str() {
                    "Default" => {
                        defaults.insert(
                            attr(e, "Extension").unwrap_or("").to_ascii_lowercase(),
                            attr(e, "ContentType").unwrap_or("").to_string(),
                        );
                    }
                    "Override" => {
                        let p = attr(e, "PartName")
                            .unwrap_or("")
                            .trim_start_matches('/')
                            .to_string();
                        if !entries.contains_key(&p) {
                            findings.push(format!(
                                "[Content_Types].xml: override for missing part /{p}"
                            ));
                        }
                        overrides.insert(p, attr(e, "ContentType").unwrap_or("").to_string());
                    }
                    _ => {}
                }
            }
        }
        Err(e) => findings.push(e),
    }

    // Content types and well-formedness.
    let mut parsed: BTreeMap<String, Vec<Element>> = BTreeMap::new();
    for (name, data) in &entries {
        if name == "[Content_Types].xml" {
            continue;
        }
        let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
        let t = overrides.get(name).or_else(|| defaults.get(&ext));
        match t {
            None => findings.push(format!("{name}: no content type")),
            Some(t) if t.ends_with("xml") => match elements(name, data) {
                Ok(els) => {
                    parsed.insert(name.clone(), els);
                }
                Err(e) => findings.push(e),
            },
            Some(t) if t == "image/png" => {
                if !data.starts_with(b"\x89PNG\r\n\x1a\n") {
                    findings.push(format!("{name}: typed image/png but is not a PNG"));
                }
            }
            Some(_) => {}
        }
    }

    // Relationships: each resolves, ids are unique; the graph reaches every part.
    let mut rels: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (name, els) in &parsed {
        if !name.ends_with(".rels") {
            continue;
        }
        let source = if name == "_rels/.rels" {
            String::new()
        } else {
            let (dir, file) = name.rsplit_once("/_rels/").unwrap_or(("", name));
            let src = format!("{dir}/{}", file.trim_end_matches(".rels"));
            if !entries.contains_key(&src) {
                findings.push(format!("{name}: relationships of a missing part {src}"));
            }
            src
        };
        let map = rels.entry(source.clone()).or_default();
        for e in els.iter().filter(|e| e.name == "Relationship") {
            let id = attr(e, "Id").unwrap_or("").to_string();
            if attr(e, "TargetMode") == Some("External") {
                continue;
            }
            let target = resolve(&source, attr(e, "Target").unwrap_or(""));
            if !entries.contains_key(&target) {
                findings.push(format!("{name}: {id} points at missing part {target}"));
            }
            if map.insert(id.clone(), target).is_some() {
                findings.push(format!("{name}: relationship id {id} appears twice"));
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut todo = vec![String::new()];
    while let Some(p) = todo.pop() {
        if let Some(m) = rels.get(&p) {
            for t in m.values() {
                if seen.insert(t.clone()) {
                    todo.push(t.clone());
                }
            }
        }
    }
    for name in entries.keys() {
        if name != "[Content_Types].xml" && !name.ends_with(".rels") && !seen.contains(name) {
            findings.push(format!("{name}: orphan part (no relationship reaches it)"));
        }
    }

    // References from inside parts, ids.
    let empty = BTreeMap::new();
    for (name, els) in &parsed {
        if name.ends_with(".rels") {
            continue;
        }
        let my = rels.get(name).unwrap_or(&empty);
        for e in els {
            for (k, v) in &e.attrs {
                if (k == "r:id" || k == "r:embed" || k == "r:link") && !my.contains_key(v) {
                    findings.push(format!(
                        "{name}: <{}> refers to {v}, which {} does not have",
                        e.name,
                        rels_name(name)
                    ));
                }
            }
        }
        if name.starts_with("ppt/slides/")
            || name.starts_with("ppt/slideLayouts/")
            || name.starts_with("ppt/notesSlides/")
        {
            let mut ids = BTreeSet::new();
            for e in els.iter().filter(|e| e.name == "p:cNvPr") {
                let id = attr(e, "id").unwrap_or("");
                if !ids.insert(id.to_string()) {
                    findings.push(format!("{name}: shape id {id} appears twice"));
                }
            }
        }
    }
    let mut big_ids: BTreeMap<u64, String> = BTreeMap::new();
    let mut check_big = |findings: &mut Vec<String>, what: String, id: Option<&str>| match id
        .and_then(|i| i.parse::<u64>().ok())
    {
        Some(n) if n >= 1 << 31 => {
            if let Some(other) = big_ids.insert(n, what.clone()) {
                findings.push(format!("{what}: id {n} is also {other}'s"));
            }
        }
        _ => findings.push(format!("{what}: id {id:?} must be at least 2^31")),
    };
    if let Some(els) = parsed.get("ppt/presentation.xml") {
        let mut slide_ids = BTreeSet::new();
        for e in els {
            match e.name.as_str() {
                "p:sldId" => {
                    let id = attr(e, "id").and_then(|i| i.parse::<u32>().ok());
                    match id {
                        Some(n) if (256..2_147_483_648).contains(&n) => {
                            if !slide_ids.insert(n) {
                                findings.push(format!(
                                    "ppt/presentation.xml: slide id {n} appears twice"
                                ));
                            }
                        }
                        _ => findings.push(format!(
                            "ppt/presentation.xml: slide id {:?} is outside 256..2^31",
                            attr(e, "id")
                        )),
                    }
                }
                "p:sldMasterId" => check_big(&mut findings, "slide master".into(), attr(e, "id")),
                _ => {}
            }
        }
        if !els.iter().any(|e| e.name == "p:notesMasterId") {
            findings.push("ppt/presentation.xml: no notesMasterIdLst".into());
        }
    } else {
        findings.push("ppt/presentation.xml is missing".into());
    }
    for (name, els) in &parsed {
        if name.starts_with("ppt/slideMasters/") && !name.ends_with(".rels") {
            for e in els.iter().filter(|e| e.name == "p:sldLayoutId") {
                check_big(
                    &mut findings,
                    format!("{name} layout {}", attr(e, "r:id").unwrap_or("")),
                    attr(e, "id"),
                );
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_targets() {
        assert_eq!(
            resolve("ppt/slides/slide1.xml", "../charts/chart1.xml"),
            "ppt/charts/chart1.xml"
        );
        assert_eq!(resolve("", "ppt/presentation.xml"), "ppt/presentation.xml");
        assert_eq!(
            resolve("ppt/presentation.xml", "/docProps/app.xml"),
            "docProps/app.xml"
        );
    }

    #[test]
    fn not_a_zip() {
        assert_eq!(lint(b"hello").len(), 1);
    }
}
