//! `ppt/notesSlides/notesSlideN.xml`: the speaker notes of one slide, one paragraph per
//! line, in the body placeholder the notes master defines.

use super::master::group_start;
use super::slide::para;
use super::xml::Xml;
use super::{Para, NS_A, NS_P, NS_R};

pub fn notes(text: &str) -> Vec<u8> {
    let mut x = Xml::new();
    x.open(
        "p:notes",
        &[("xmlns:a", NS_A), ("xmlns:r", NS_R), ("xmlns:p", NS_P)],
    );
    x.open("p:cSld", &[]);
    group_start(&mut x);
    x.open("p:sp", &[]);
    x.open("p:nvSpPr", &[])
        .empty(
            "p:cNvPr",
            &[("id", "2"), ("name", "Slide Image Placeholder 1")],
        )
        .open("p:cNvSpPr", &[])
        .empty(
            "a:spLocks",
            &[("noGrp", "1"), ("noRot", "1"), ("noChangeAspect", "1")],
        )
        .close()
        .open("p:nvPr", &[])
        .empty("p:ph", &[("type", "sldImg"), ("idx", "2")])
        .close()
        .close();
    x.empty("p:spPr", &[]).close();
    x.open("p:sp", &[]);
    x.open("p:nvSpPr", &[])
        .empty("p:cNvPr", &[("id", "3"), ("name", "Notes Placeholder 2")])
        .open("p:cNvSpPr", &[])
        .empty("a:spLocks", &[("noGrp", "1")])
        .close()
        .open("p:nvPr", &[])
        .empty("p:ph", &[("type", "body"), ("idx", "1")])
        .close()
        .close();
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
