//! `ppt/notesSlides/notesSlideN.xml`: the speaker notes of one slide, one paragraph per
//! line, in the body placeholder the notes master defines.

use super::master::{group_start, placeholder_nv};
use super::slide::para;
use super::xml::Xml;
use super::{Para, PML_NS};

pub fn notes(text: &str) -> Vec<u8> {
    let mut x = Xml::new();
    x.open("p:notes", &PML_NS);
    x.open("p:cSld", &[]);
    group_start(&mut x);
    x.open("p:sp", &[]);
    placeholder_nv(
        &mut x,
        2,
        "Slide Image Placeholder 1",
        &[("type", "sldImg"), ("idx", "2")],
        &[("noGrp", "1"), ("noRot", "1"), ("noChangeAspect", "1")],
    );
    x.empty("p:spPr", &[]).close();
    x.open("p:sp", &[]);
    placeholder_nv(
        &mut x,
        3,
        "Notes Placeholder 2",
        &[("type", "body"), ("idx", "1")],
        &[("noGrp", "1")],
    );
    x.empty("p:spPr", &[]);
    x.open("p:txBody", &[])
        .empty("a:bodyPr", &[])
        .empty("a:lstStyle", &[]);
    let mut any = false;
    for line in text.lines() {
        para(&mut x, &Para::new(line, 10.0));
        any = true;
    }
    if !any {
        para(&mut x, &Para::new("", 10.0));
    }
    x.close().close();
    x.close().close();
    x.open("p:clrMapOvr", &[])
        .empty("a:masterClrMapping", &[])
        .close();
    x.finish()
}
