//! `ppt/slides/slideN.xml`: the shape tree of one slide — the title placeholder, text
//! boxes, tables, chart frames and pictures. Shape ids are unique within the slide (1 is
//! the tree itself). Charts and pictures live in their own parts: `embed` adds them and
//! answers the relationship id.

use super::master::{group_start, placeholder_nv, rect_geometry};
use super::xml::Xml;
use super::{
    Align, Cell, Chart, Layout, Para, PptxError, Rect, Shape, Slide, Table, EMU_PER_PT, NS_C, NS_R,
    PML_NS,
};

pub enum Embed<'a> {
    Chart(&'a Chart),
    Image(&'a [u8]),
}

fn pt100(size: f32) -> String {
    ((size * 100.0).round() as i64)
        .clamp(100, 400_000)
        .to_string()
}

fn align(a: Align) -> &'static str {
    match a {
        Align::Left => "l",
        Align::Center => "ctr",
        Align::Right => "r",
    }
}

fn solid(x: &mut Xml, rgb: &str) {
    x.open("a:solidFill", &[]).val("a:srgbClr", rgb).close();
}

/// One paragraph with one run (or an empty paragraph that keeps its size).
pub fn para(x: &mut Xml, p: &Para) {
    x.open("a:p", &[]);
    x.empty("a:pPr", &[("algn", align(p.align))]);
    let sz = pt100(p.size);
    let mut attrs = vec![("lang", "en-US"), ("sz", sz.as_str())];
    if p.bold {
        attrs.push(("b", "1"));
    }
    if p.text.is_empty() {
        x.empty("a:endParaRPr", &attrs);
    } else {
        x.open("a:r", &[]);
        match &p.color {
            Some(c) => {
                x.open("a:rPr", &attrs);
                solid(x, c);
                x.close();
            }
            None => {
                x.empty("a:rPr", &attrs);
            }
        }
        x.leaf("a:t", &[], &p.text).close();
    }
    x.close();
}

fn title(x: &mut Xml, id: u32, ph: &[(&str, &str)], name: &str, paras: &[Para]) {
    x.open("p:sp", &[]);
    placeholder_nv(x, id, name, ph, &[("noGrp", "1")]);
    x.empty("p:spPr", &[]);
    x.open("p:txBody", &[])
        .empty("a:bodyPr", &[])
        .empty("a:lstStyle", &[]);
    for p in paras {
        para(x, p);
    }
    x.close().close();
}

fn text_box(x: &mut Xml, id: u32, rect: Rect, paras: &[Para]) {
    x.open("p:sp", &[]);
    x.open("p:nvSpPr", &[])
        .empty(
            "p:cNvPr",
            &[("id", &id.to_string()), ("name", &format!("TextBox {id}"))],
        )
        .empty("p:cNvSpPr", &[("txBox", "1")])
        .empty("p:nvPr", &[])
        .close();
    x.open("p:spPr", &[]);
    rect_geometry(x, rect);
    x.empty("a:noFill", &[]);
    x.close();
    x.open("p:txBody", &[])
        .open("a:bodyPr", &[("wrap", "square"), ("rtlCol", "0")])
        .empty("a:noAutofit", &[])
        .close()
        .empty("a:lstStyle", &[]);
    if paras.is_empty() {
        para(x, &Para::new("", 12.0));
    }
    for p in paras {
        para(x, p);
    }
    x.close().close();
}

fn frame_start(x: &mut Xml, id: u32, name: &str, rect: Rect, locks: bool) {
    x.open("p:graphicFrame", &[]);
    x.open("p:nvGraphicFramePr", &[])
        .empty("p:cNvPr", &[("id", &id.to_string()), ("name", name)]);
    if locks {
        x.open("p:cNvGraphicFramePr", &[])
            .empty("a:graphicFrameLocks", &[("noGrp", "1")])
            .close();
    } else {
        x.empty("p:cNvGraphicFramePr", &[]);
    }
    x.empty("p:nvPr", &[]).close();
    x.open("p:xfrm", &[])
        .empty(
            "a:off",
            &[("x", &rect.x.to_string()), ("y", &rect.y.to_string())],
        )
        .empty(
            "a:ext",
            &[("cx", &rect.w.to_string()), ("cy", &rect.h.to_string())],
        )
        .close();
}

/// Column widths in EMU that add up to `total` exactly.
pub fn widths(rel: &[u32], n: usize, total: i64) -> Vec<i64> {
    let rel: Vec<i64> = (0..n)
        .map(|i| rel.get(i).copied().unwrap_or(1).max(1) as i64)
        .collect();
    let sum: i64 = rel.iter().sum::<i64>().max(1);
    let mut out: Vec<i64> = rel.iter().map(|r| total * r / sum).collect();
    let used: i64 = out.iter().sum();
    if let Some(last) = out.last_mut() {
        *last += total - used;
    }
    out
}

/// The height of one table row for a font size, in EMU.
pub fn row_height(size: f32) -> i64 {
    (size as f64 * 1.9 * EMU_PER_PT as f64) as i64
}

const HEADER_FILL: &str = "1F2933";
const GRID: &str = "D0D5DB";

fn cell(x: &mut Xml, c: &Cell, size: f32, header: bool) {
    x.open("a:tc", &[]);
    x.open("a:txBody", &[])
        .empty("a:bodyPr", &[])
        .empty("a:lstStyle", &[]);
    let mut p = Para::new(c.text.clone(), size).align(c.align);
    p.bold = c.bold || header;
    p.color = if header {
        Some("FFFFFF".into())
    } else {
        c.color.clone()
    };
    para(x, &p);
    x.close();
    x.open(
        "a:tcPr",
        &[
            ("marL", "45720"),
            ("marR", "45720"),
            ("marT", "18288"),
            ("marB", "18288"),
            ("anchor", "ctr"),
        ],
    );
    x.open("a:lnB", &[("w", "6350")]);
    solid(x, GRID);
    x.close();
    if header {
        solid(x, HEADER_FILL);
    } else if let Some(f) = &c.fill {
        solid(x, f);
    } else {
        x.empty("a:noFill", &[]);
    }
    x.close().close();
}

fn table(x: &mut Xml, id: u32, t: &Table) {
    let n = t
        .header
        .len()
        .max(t.rows.iter().map(Vec::len).max().unwrap_or(0))
        .max(1);
    let h = row_height(t.size);
    let rows = 1 + t.rows.len() as i64;
    let rect = Rect {
        h: h * rows,
        ..t.rect
    };
    frame_start(x, id, &format!("Table {id}"), rect, true);
    x.open("a:graphic", &[]).open(
        "a:graphicData",
        &[(
            "uri",
            "http://schemas.openxmlformats.org/drawingml/2006/table",
        )],
    );
    x.open("a:tbl", &[])
        .empty("a:tblPr", &[("firstRow", "1"), ("bandRow", "1")]);
    x.open("a:tblGrid", &[]);
    for w in widths(&t.widths, n, t.rect.w) {
        x.empty("a:gridCol", &[("w", &w.to_string())]);
    }
    x.close();
    let hs = h.to_string();
    x.open("a:tr", &[("h", &hs)]);
    for i in 0..n {
        let c = Cell::new(t.header.get(i).cloned().unwrap_or_default());
        cell(x, &c, t.size, true);
    }
    x.close();
    let blank = Cell::default();
    for r in &t.rows {
        x.open("a:tr", &[("h", &hs)]);
        for i in 0..n {
            cell(x, r.get(i).unwrap_or(&blank), t.size, false);
        }
        x.close();
    }
    x.close().close().close().close();
}

fn chart_frame(x: &mut Xml, id: u32, rect: Rect, rid: &str) {
    frame_start(x, id, &format!("Chart {id}"), rect, false);
    x.open("a:graphic", &[])
        .open("a:graphicData", &[("uri", NS_C)])
        .empty(
            "c:chart",
            &[("xmlns:c", NS_C), ("xmlns:r", NS_R), ("r:id", rid)],
        )
        .close()
        .close();
    x.close();
}

fn picture(x: &mut Xml, id: u32, rect: Rect, rid: &str, descr: &str) {
    x.open("p:pic", &[]);
    x.open("p:nvPicPr", &[])
        .empty(
            "p:cNvPr",
            &[
                ("id", &id.to_string()),
                ("name", &format!("Picture {id}")),
                ("descr", descr),
            ],
        )
        .open("p:cNvPicPr", &[])
        .empty("a:picLocks", &[("noChangeAspect", "1")])
        .close()
        .empty("p:nvPr", &[])
        .close();
    x.open("p:blipFill", &[])
        .empty("a:blip", &[("r:embed", rid)])
        .open("a:stretch", &[])
        .empty("a:fillRect", &[])
        .close()
        .close();
    x.open("p:spPr", &[]);
    rect_geometry(x, rect);
    x.close().close();
}

pub fn slide(
    s: &Slide,
    embed: &mut dyn FnMut(Embed<'_>) -> Result<String, PptxError>,
) -> Result<Vec<u8>, PptxError> {
    let mut x = Xml::new();
    x.open("p:sld", &PML_NS);
    x.open("p:cSld", &[]);
    group_start(&mut x);
    let mut id = 2;
    match s.layout {
        Layout::Title => {
            title(
                &mut x,
                id,
                &[("type", "ctrTitle")],
                "Title 1",
                &[Para::new(s.title.clone(), 36.0).bold()],
            );
            id += 1;
            let subs: Vec<Para> = s
                .subtitle
                .iter()
                .map(|l| Para::new(l.clone(), 16.0))
                .collect();
            title(
                &mut x,
                id,
                &[("type", "subTitle"), ("idx", "1")],
                "Subtitle 2",
                &subs,
            );
        }
        Layout::TitleOnly => {
            title(
                &mut x,
                id,
                &[("type", "title")],
                "Title 1",
                &[Para::new(s.title.clone(), 28.0).bold()],
            );
        }
    }
    for shape in &s.shapes {
        id += 1;
        match shape {
            Shape::Text { rect, paras } => text_box(&mut x, id, *rect, paras),
            Shape::Table(t) => table(&mut x, id, t),
            Shape::Chart(c) => {
                let rid = embed(Embed::Chart(c))?;
                chart_frame(&mut x, id, c.rect, &rid);
            }
            Shape::Picture(p) => {
                let rid = embed(Embed::Image(&p.png))?;
                picture(&mut x, id, p.rect, &rid, &p.description);
            }
        }
    }
    x.close().close();
    x.open("p:clrMapOvr", &[])
        .empty("a:masterClrMapping", &[])
        .close();
    Ok(x.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_widths_add_up() {
        let w = widths(&[3, 1, 1], 3, 1_000_001);
        assert_eq!(w.iter().sum::<i64>(), 1_000_001);
        assert_eq!(w[0], 600_000);
        assert_eq!(widths(&[], 4, 10).len(), 4);
    }
}
