//! The slide master (`ppt/slideMasters/slideMaster1.xml`), its two layouts ("Title Slide"
//! and "Title Only") and the notes master. Ids of the master and the layouts are in the
//! range the schema reserves for them (from 2^31) and distinct from each other.

use super::xml::Xml;
use super::{PML_NS, SLIDE_W};

pub const MASTER_ID: u32 = 2_147_483_648;
/// Layout ids follow the master's.
pub const LAYOUT_IDS: [u32; 2] = [2_147_483_649, 2_147_483_650];
pub const LAYOUT_NAMES: [&str; 2] = ["Title Slide", "Title Only"];

const CLR_MAP: [(&str, &str); 12] = [
    ("bg1", "lt1"),
    ("tx1", "dk1"),
    ("bg2", "lt2"),
    ("tx2", "dk2"),
    ("accent1", "accent1"),
    ("accent2", "accent2"),
    ("accent3", "accent3"),
    ("accent4", "accent4"),
    ("accent5", "accent5"),
    ("accent6", "accent6"),
    ("hlink", "hlink"),
    ("folHlink", "folHlink"),
];

pub fn group_start(x: &mut Xml) {
    x.open("p:spTree", &[]);
    x.open("p:nvGrpSpPr", &[])
        .empty("p:cNvPr", &[("id", "1"), ("name", "")])
        .empty("p:cNvGrpSpPr", &[])
        .empty("p:nvPr", &[])
        .close();
    x.raw(r#"<p:grpSpPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/><a:chOff x="0" y="0"/><a:chExt cx="0" cy="0"/></a:xfrm></p:grpSpPr>"#);
}

pub fn xfrm(x: &mut Xml, r: super::Rect) {
    x.open("a:xfrm", &[])
        .empty("a:off", &[("x", &r.x.to_string()), ("y", &r.y.to_string())])
        .empty(
            "a:ext",
            &[("cx", &r.w.to_string()), ("cy", &r.h.to_string())],
        )
        .close();
}

/// A shape's position and its geometry, a plain rectangle (inside `p:spPr`).
pub fn rect_geometry(x: &mut Xml, r: super::Rect) {
    xfrm(x, r);
    x.open("a:prstGeom", &[("prst", "rect")])
        .empty("a:avLst", &[])
        .close();
}

/// The non-visual properties of a placeholder shape (`p:nvSpPr`): its id and name, its
/// locks, and which placeholder of the layout or master it is.
pub fn placeholder_nv(
    x: &mut Xml,
    id: u32,
    name: &str,
    ph: &[(&str, &str)],
    locks: &[(&str, &str)],
) {
    x.open("p:nvSpPr", &[])
        .empty("p:cNvPr", &[("id", &id.to_string()), ("name", name)])
        .open("p:cNvSpPr", &[])
        .empty("a:spLocks", locks)
        .close()
        .open("p:nvPr", &[])
        .empty("p:ph", ph)
        .close()
        .close();
}

/// A placeholder shape with a position and (for masters and layouts) prompt text.
pub fn placeholder(
    x: &mut Xml,
    id: u32,
    name: &str,
    ph: &[(&str, &str)],
    r: super::Rect,
    text: &str,
) {
    x.open("p:sp", &[]);
    placeholder_nv(x, id, name, ph, &[("noGrp", "1")]);
    x.open("p:spPr", &[]);
    rect_geometry(x, r);
    x.close();
    x.open("p:txBody", &[])
        .empty("a:bodyPr", &[("anchor", "ctr")])
        .empty("a:lstStyle", &[])
        .open("a:p", &[])
        .open("a:r", &[])
        .empty("a:rPr", &[("lang", "en-US")])
        .leaf("a:t", &[], text)
        .close()
        .close()
        .close();
    x.close();
}

fn clr_map(x: &mut Xml) {
    x.empty("p:clrMap", &CLR_MAP);
}

fn background(x: &mut Xml) {
    x.raw(r#"<p:bg><p:bgRef idx="1001"><a:schemeClr val="bg1"/></p:bgRef></p:bg>"#);
}

pub const TITLE_RECT: super::Rect = super::Rect {
    x: 457_200,
    y: 228_600,
    w: SLIDE_W - 914_400,
    h: 685_800,
};

fn text_style(x: &mut Xml, name: &'static str, size: &str, bold: bool, color: &str, font: &str) {
    x.open(name, &[]).open("a:lvl1pPr", &[("algn", "l")]);
    let mut attrs = vec![("sz", size)];
    if bold {
        attrs.push(("b", "1"));
    }
    x.open("a:defRPr", &attrs)
        .open("a:solidFill", &[])
        .val("a:schemeClr", color)
        .close()
        .empty("a:latin", &[("typeface", font)])
        .close();
    x.close().close();
}

/// The slide master: a title placeholder, the colour map, the layout list, text styles.
pub fn master() -> Vec<u8> {
    let mut x = Xml::new();
    x.open("p:sldMaster", &PML_NS);
    x.open("p:cSld", &[]);
    background(&mut x);
    group_start(&mut x);
    placeholder(
        &mut x,
        2,
        "Title Placeholder 1",
        &[("type", "title")],
        TITLE_RECT,
        "Title",
    );
    x.close().close();
    clr_map(&mut x);
    x.open("p:sldLayoutIdLst", &[]);
    for (i, id) in LAYOUT_IDS.iter().enumerate() {
        x.empty(
            "p:sldLayoutId",
            &[("id", &id.to_string()), ("r:id", &format!("rId{}", i + 1))],
        );
    }
    x.close();
    x.open("p:txStyles", &[]);
    text_style(&mut x, "p:titleStyle", "2800", true, "tx2", "+mj-lt");
    text_style(&mut x, "p:bodyStyle", "1600", false, "tx1", "+mn-lt");
    text_style(&mut x, "p:otherStyle", "1400", false, "tx1", "+mn-lt");
    x.close();
    x.finish()
}

pub const CTR_TITLE_RECT: super::Rect = super::Rect {
    x: 914_400,
    y: 1_828_800,
    w: SLIDE_W - 1_828_800,
    h: 1_371_600,
};
pub const SUBTITLE_RECT: super::Rect = super::Rect {
    x: 914_400,
    y: 3_352_800,
    w: SLIDE_W - 1_828_800,
    h: 2_286_000,
};

/// Layout `i` (0: "Title Slide", 1: "Title Only").
pub fn layout(i: usize) -> Vec<u8> {
    let mut x = Xml::new();
    let kind = if i == 0 { "title" } else { "titleOnly" };
    x.open(
        "p:sldLayout",
        &[
            PML_NS[0],
            PML_NS[1],
            PML_NS[2],
            ("type", kind),
            ("preserve", "1"),
        ],
    );
    x.open("p:cSld", &[("name", LAYOUT_NAMES[i])]);
    group_start(&mut x);
    if i == 0 {
        placeholder(
            &mut x,
            2,
            "Title 1",
            &[("type", "ctrTitle")],
            CTR_TITLE_RECT,
            "Title",
        );
        placeholder(
            &mut x,
            3,
            "Subtitle 2",
            &[("type", "subTitle"), ("idx", "1")],
            SUBTITLE_RECT,
            "Subtitle",
        );
    } else {
        placeholder(
            &mut x,
            2,
            "Title 1",
            &[("type", "title")],
            TITLE_RECT,
            "Title",
        );
    }
    x.close().close();
    x.open("p:clrMapOvr", &[])
        .empty("a:masterClrMapping", &[])
        .close();
    x.finish()
}

pub const NOTES_W: i64 = 6_858_000;
pub const NOTES_H: i64 = 9_144_000;
pub const NOTES_IMAGE_RECT: super::Rect = super::Rect {
    x: 381_000,
    y: 685_800,
    w: 6_096_000,
    h: 3_429_000,
};
pub const NOTES_BODY_RECT: super::Rect = super::Rect {
    x: 685_800,
    y: 4_343_400,
    w: 5_486_400,
    h: 4_114_800,
};

/// The notes master: a slide image and a body placeholder.
pub fn notes_master() -> Vec<u8> {
    let mut x = Xml::new();
    x.open("p:notesMaster", &PML_NS);
    x.open("p:cSld", &[]);
    background(&mut x);
    group_start(&mut x);
    placeholder(
        &mut x,
        2,
        "Slide Image Placeholder 1",
        &[("type", "sldImg"), ("idx", "2")],
        NOTES_IMAGE_RECT,
        "",
    );
    placeholder(
        &mut x,
        3,
        "Notes Placeholder 2",
        &[("type", "body"), ("idx", "1")],
        NOTES_BODY_RECT,
        "Notes",
    );
    x.close().close();
    clr_map(&mut x);
    x.open("p:notesStyle", &[])
        .open("a:lvl1pPr", &[])
        .open("a:defRPr", &[("sz", "1000")])
        .open("a:solidFill", &[])
        .val("a:schemeClr", "tx1")
        .close()
        .empty("a:latin", &[("typeface", "+mn-lt")])
        .close()
        .close()
        .close();
    x.finish()
}
