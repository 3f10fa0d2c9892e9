//! `ppt/charts/chartN.xml`: a native chart (line, clustered column or bar, stacked area)
//! with explicit colours, its values cached in the part (what PowerPoint, LibreOffice and
//! python-pptx read) and referring to the embedded workbook by formula (what "Edit Data"
//! opens). A gap is a missing point in the cache and a blank cell; `dispBlanksAs gap`
//! keeps it a gap when drawn.

use super::workbook::column;
use super::xml::{num, Xml};
use super::{Chart, ChartKind, ChartSeries, NS_A, NS_C, NS_R};

const CAT_AX: &str = "500000001";
const VAL_AX: &str = "500000002";
const AXIS_LINE: &str = "BFBFBF";
const GRIDLINE: &str = "E5E8EB";

fn rich(x: &mut Xml, text: &str, size: &str, bold: bool, rotate: bool) {
    let b = if bold { "1" } else { "0" };
    x.open("c:tx", &[]).open("c:rich", &[]);
    if rotate {
        x.empty("a:bodyPr", &[("rot", "-5400000"), ("vert", "horz")]);
    } else {
        x.empty("a:bodyPr", &[]);
    }
    x.empty("a:lstStyle", &[])
        .open("a:p", &[])
        .open("a:pPr", &[])
        .empty("a:defRPr", &[("sz", size), ("b", b)])
        .close()
        .open("a:r", &[])
        .empty("a:rPr", &[("lang", "en-US"), ("sz", size), ("b", b)])
        .leaf("a:t", &[], text)
        .close()
        .close()
        .close()
        .close();
}

fn title(x: &mut Xml, text: &str, size: &str, bold: bool, rotate: bool) {
    x.open("c:title", &[]);
    rich(x, text, size, bold, rotate);
    x.val("c:overlay", "0").close();
}

fn text_props(x: &mut Xml, size: &str) {
    x.open("c:txPr", &[])
        .empty("a:bodyPr", &[])
        .empty("a:lstStyle", &[])
        .open("a:p", &[])
        .open("a:pPr", &[])
        .empty("a:defRPr", &[("sz", size)])
        .close()
        .empty("a:endParaRPr", &[("lang", "en-US")])
        .close()
        .close();
}

fn line_props(x: &mut Xml, rgb: &str, w: &str) {
    x.open("c:spPr", &[])
        .open("a:ln", &[("w", w)])
        .open("a:solidFill", &[])
        .val("a:srgbClr", rgb)
        .close()
        .close()
        .close();
}

fn series(x: &mut Xml, c: &Chart, i: usize, s: &ChartSeries) {
    let col = column(i + 1);
    let n = c.categories.len();
    x.open("c:ser", &[])
        .val("c:idx", &i.to_string())
        .val("c:order", &i.to_string());
    x.open("c:tx", &[])
        .open("c:strRef", &[])
        .leaf("c:f", &[], &format!("Sheet1!${col}$1"))
        .open("c:strCache", &[])
        .val("c:ptCount", "1")
        .open("c:pt", &[("idx", "0")])
        .leaf("c:v", &[], &s.name)
        .close()
        .close()
        .close()
        .close();
    x.open("c:spPr", &[]);
    match c.kind {
        ChartKind::Line => {
            x.open("a:ln", &[("w", "22225"), ("cap", "rnd")])
                .open("a:solidFill", &[])
                .val("a:srgbClr", &s.color)
                .close();
            if s.dashed {
                x.val("a:prstDash", "dash");
            }
            x.empty("a:round", &[]).close();
        }
        _ => {
            x.open("a:solidFill", &[])
                .val("a:srgbClr", &s.color)
                .close();
            x.empty("a:ln", &[]);
        }
    }
    x.close();
    match c.kind {
        ChartKind::Line => {
            x.open("c:marker", &[]).val("c:symbol", "none").close();
        }
        ChartKind::Bar | ChartKind::BarHorizontal => {
            x.val("c:invertIfNegative", "0");
        }
        ChartKind::StackedArea => {}
    }
    x.open("c:cat", &[])
        .open("c:strRef", &[])
        .leaf("c:f", &[], &format!("Sheet1!$A$2:$A${}", n + 1))
        .open("c:strCache", &[])
        .val("c:ptCount", &n.to_string());
    for (j, cat) in c.categories.iter().enumerate() {
        x.open("c:pt", &[("idx", &j.to_string())])
            .leaf("c:v", &[], cat)
            .close();
    }
    x.close().close().close();
    x.open("c:val", &[])
        .open("c:numRef", &[])
        .leaf("c:f", &[], &format!("Sheet1!${col}$2:${col}${}", n + 1))
        .open("c:numCache", &[])
        .leaf("c:formatCode", &[], &c.number_format)
        .val("c:ptCount", &n.to_string());
    for (j, v) in s.values.iter().take(n).enumerate() {
        if v.is_finite() {
            x.open("c:pt", &[("idx", &j.to_string())])
                .leaf("c:v", &[], &num(*v))
                .close();
        }
    }
    x.close().close().close();
    if c.kind == ChartKind::Line {
        x.val("c:smooth", "0");
    }
    x.close();
}

fn axes(x: &mut Xml, c: &Chart) {
    let horizontal = c.kind == ChartKind::BarHorizontal;
    let n = c.categories.len();
    x.open("c:catAx", &[]).val("c:axId", CAT_AX);
    x.open("c:scaling", &[])
        .val(
            "c:orientation",
            if horizontal { "maxMin" } else { "minMax" },
        )
        .close();
    x.val("c:delete", "0")
        .val("c:axPos", if horizontal { "l" } else { "b" });
    x.empty(
        "c:numFmt",
        &[("formatCode", "General"), ("sourceLinked", "0")],
    );
    x.val("c:majorTickMark", "none")
        .val("c:minorTickMark", "none")
        .val("c:tickLblPos", "low");
    line_props(x, AXIS_LINE, "6350");
    text_props(x, "900");
    x.val("c:crossAx", VAL_AX)
        .val("c:crosses", "autoZero")
        .val("c:auto", "1");
    x.val("c:lblAlgn", "ctr").val("c:lblOffset", "100");
    if !horizontal && (n > 14 || c.label_every > 1) {
        // About a dozen labels along the axis (or as asked), and a tick per label.
        let every = if c.label_every > 0 {
            c.label_every
        } else {
            n.div_ceil(12)
        };
        let skip = every.to_string();
        x.val("c:tickLblSkip", &skip).val("c:tickMarkSkip", &skip);
    }
    x.val("c:noMultiLvlLbl", "0").close();

    x.open("c:valAx", &[]).val("c:axId", VAL_AX);
    x.open("c:scaling", &[]).val("c:orientation", "minMax");
    if let Some(v) = c.y_max.filter(|v| v.is_finite()) {
        x.val("c:max", &num(v));
    }
    if let Some(v) = c.y_min.filter(|v| v.is_finite()) {
        x.val("c:min", &num(v));
    }
    x.close();
    x.val("c:delete", "0")
        .val("c:axPos", if horizontal { "b" } else { "l" });
    x.open("c:majorGridlines", &[]);
    line_props(x, GRIDLINE, "6350");
    x.close();
    if !c.y_title.is_empty() {
        title(x, &c.y_title, "900", false, !horizontal);
    }
    x.empty(
        "c:numFmt",
        &[("formatCode", &c.number_format), ("sourceLinked", "0")],
    );
    x.val("c:majorTickMark", "none")
        .val("c:minorTickMark", "none")
        .val("c:tickLblPos", "nextTo");
    x.open("c:spPr", &[])
        .open("a:ln", &[])
        .empty("a:noFill", &[])
        .close()
        .close();
    text_props(x, "900");
    x.val("c:crossAx", CAT_AX).val("c:crosses", "autoZero");
    x.val("c:crossBetween", "between").close();
}

pub fn chart(c: &Chart, book_rid: &str) -> Vec<u8> {
    let mut x = Xml::new();
    x.open(
        "c:chartSpace",
        &[("xmlns:c", NS_C), ("xmlns:a", NS_A), ("xmlns:r", NS_R)],
    );
    x.val("c:date1904", "0")
        .val("c:lang", "en-US")
        .val("c:roundedCorners", "0");
    x.open("c:chart", &[]);
    if c.title.is_empty() {
        x.val("c:autoTitleDeleted", "1");
    } else {
        title(&mut x, &c.title, "1200", true, false);
        x.val("c:autoTitleDeleted", "0");
    }
    x.open("c:plotArea", &[]).empty("c:layout", &[]);
    match c.kind {
        ChartKind::Line => {
            x.open("c:lineChart", &[]).val("c:grouping", "standard");
        }
        ChartKind::Bar | ChartKind::BarHorizontal => {
            x.open("c:barChart", &[])
                .val(
                    "c:barDir",
                    if c.kind == ChartKind::Bar {
                        "col"
                    } else {
                        "bar"
                    },
                )
                .val("c:grouping", "clustered");
        }
        ChartKind::StackedArea => {
            x.open("c:areaChart", &[]).val("c:grouping", "stacked");
        }
    }
    x.val("c:varyColors", "0");
    for (i, s) in c.series.iter().enumerate() {
        series(&mut x, c, i, s);
    }
    match c.kind {
        ChartKind::Line => {
            x.val("c:marker", "1");
        }
        ChartKind::Bar | ChartKind::BarHorizontal => {
            x.val("c:gapWidth", "60");
        }
        ChartKind::StackedArea => {}
    }
    x.val("c:axId", CAT_AX).val("c:axId", VAL_AX).close();
    axes(&mut x, c);
    x.close();
    if c.series.len() > 1 {
        x.open("c:legend", &[])
            .val("c:legendPos", "b")
            .val("c:overlay", "0");
        text_props(&mut x, "900");
        x.close();
    }
    x.val("c:plotVisOnly", "1")
        .val("c:dispBlanksAs", "gap")
        .close();
    text_props(&mut x, "1000");
    x.open("c:externalData", &[("r:id", book_rid)])
        .val("c:autoUpdate", "0")
        .close();
    x.finish()
}
