//! The small parts: `ppt/presentation.xml` (slide, master and notes-master lists, sizes),
//! `presProps.xml`, `viewProps.xml`, `tableStyles.xml`, and `docProps/core.xml` and
//! `docProps/app.xml`.

use super::master::{MASTER_ID, NOTES_H, NOTES_W};
use super::xml::Xml;
use super::{Deck, NS_A, PML_NS, SLIDE_H, SLIDE_W};

/// The first slide id the schema allows.
pub const FIRST_SLIDE_ID: u32 = 256;

pub fn presentation(master_rid: &str, notes_master_rid: &str, slide_rids: &[String]) -> Vec<u8> {
    let mut x = Xml::new();
    x.open(
        "p:presentation",
        &[PML_NS[0], PML_NS[1], PML_NS[2], ("saveSubsetFonts", "1")],
    );
    x.open("p:sldMasterIdLst", &[])
        .empty(
            "p:sldMasterId",
            &[("id", &MASTER_ID.to_string()), ("r:id", master_rid)],
        )
        .close();
    x.open("p:notesMasterIdLst", &[])
        .empty("p:notesMasterId", &[("r:id", notes_master_rid)])
        .close();
    if !slide_rids.is_empty() {
        x.open("p:sldIdLst", &[]);
        for (i, rid) in slide_rids.iter().enumerate() {
            let id = (FIRST_SLIDE_ID as usize + i).to_string();
            x.empty("p:sldId", &[("id", &id), ("r:id", rid)]);
        }
        x.close();
    }
    x.empty(
        "p:sldSz",
        &[("cx", &SLIDE_W.to_string()), ("cy", &SLIDE_H.to_string())],
    );
    x.empty(
        "p:notesSz",
        &[("cx", &NOTES_W.to_string()), ("cy", &NOTES_H.to_string())],
    );
    x.finish()
}

pub fn pres_props() -> Vec<u8> {
    let mut x = Xml::new();
    x.empty("p:presentationPr", &PML_NS);
    x.finish()
}

pub fn view_props() -> Vec<u8> {
    let mut x = Xml::new();
    x.open("p:viewPr", &PML_NS);
    x.open("p:normalViewPr", &[])
        .empty("p:restoredLeft", &[("sz", "15620")])
        .empty("p:restoredTop", &[("sz", "94660")])
        .close();
    x.finish()
}

pub fn table_styles() -> Vec<u8> {
    let mut x = Xml::new();
    // The default style PowerPoint itself writes ("Medium Style 2 - Accent 1"); our
    // tables carry explicit fills and do not refer to a style.
    x.empty(
        "a:tblStyleLst",
        &[
            ("xmlns:a", NS_A),
            ("def", "{5C22544A-7EE6-4342-B048-85BDC9FD1C3A}"),
        ],
    );
    x.finish()
}

pub fn core(deck: &Deck) -> Vec<u8> {
    let when = deck.created.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut x = Xml::new();
    x.open(
        "cp:coreProperties",
        &[
            (
                "xmlns:cp",
                "http://schemas.openxmlformats.org/package/2006/metadata/core-properties",
            ),
            ("xmlns:dc", "http://purl.org/dc/elements/1.1/"),
            ("xmlns:dcterms", "http://purl.org/dc/terms/"),
            ("xmlns:dcmitype", "http://purl.org/dc/dcmitype/"),
            ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
        ],
    );
    x.leaf("dc:title", &[], &deck.title)
        .leaf("dc:subject", &[], &deck.subject)
        .leaf("dc:creator", &[], &deck.generator)
        .leaf("cp:lastModifiedBy", &[], &deck.generator)
        .leaf("cp:revision", &[], "1")
        .leaf("dcterms:created", &[("xsi:type", "dcterms:W3CDTF")], &when)
        .leaf("dcterms:modified", &[("xsi:type", "dcterms:W3CDTF")], &when);
    x.finish()
}

pub fn app(deck: &Deck) -> Vec<u8> {
    let n = deck.slides.len().to_string();
    let mut x = Xml::new();
    x.open(
        "Properties",
        &[
            (
                "xmlns",
                "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties",
            ),
            (
                "xmlns:vt",
                "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes",
            ),
        ],
    );
    x.leaf("PresentationFormat", &[], "Widescreen")
        .leaf("Slides", &[], &n)
        .leaf("Notes", &[], &n)
        .leaf("Application", &[], &deck.generator);
    x.finish()
}
