//! `ppt/theme/theme1.xml` (the slide master's) and `theme2.xml` (the notes master's): the
//! colour, font and format schemes. Every list the schema requires has its three entries.

/// The palette the deck draws with (the theme's accents, in order).
pub const ACCENTS: [&str; 6] = ["1F6FB2", "E8833A", "3A9D5D", "C0392B", "7D5BA6", "8C8C8C"];
pub const DARK: &str = "1F2933";
pub const LIGHT: &str = "FFFFFF";

pub fn theme(name: &str) -> Vec<u8> {
    let accents: String = ACCENTS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "<a:accent{n}><a:srgbClr val=\"{c}\"/></a:accent{n}>",
                n = i + 1
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<a:theme xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" name="{name}"><a:themeElements><a:clrScheme name="meshscope"><a:dk1><a:srgbClr val="000000"/></a:dk1><a:lt1><a:srgbClr val="{LIGHT}"/></a:lt1><a:dk2><a:srgbClr val="{DARK}"/></a:dk2><a:lt2><a:srgbClr val="EEF1F4"/></a:lt2>{accents}<a:hlink><a:srgbClr val="1F6FB2"/></a:hlink><a:folHlink><a:srgbClr val="7D5BA6"/></a:folHlink></a:clrScheme><a:fontScheme name="meshscope"><a:majorFont><a:latin typeface="Calibri"/><a:ea typeface=""/><a:cs typeface=""/></a:majorFont><a:minorFont><a:latin typeface="Calibri"/><a:ea typeface=""/><a:cs typeface=""/></a:minorFont></a:fontScheme><a:fmtScheme name="meshscope"><a:fillStyleLst><a:solidFill><a:schemeClr val="phClr"/></a:solidFill><a:solidFill><a:schemeClr val="phClr"><a:tint val="50000"/></a:schemeClr></a:solidFill><a:solidFill><a:schemeClr val="phClr"><a:shade val="80000"/></a:schemeClr></a:solidFill></a:fillStyleLst><a:lnStyleLst><a:ln w="9525" cap="flat" cmpd="sng" algn="ctr"><a:solidFill><a:schemeClr val="phClr"/></a:solidFill><a:prstDash val="solid"/></a:ln><a:ln w="19050" cap="flat" cmpd="sng" algn="ctr"><a:solidFill><a:schemeClr val="phClr"/></a:solidFill><a:prstDash val="solid"/></a:ln><a:ln w="28575" cap="flat" cmpd="sng" algn="ctr"><a:solidFill><a:schemeClr val="phClr"/></a:solidFill><a:prstDash val="solid"/></a:ln></a:lnStyleLst><a:effectStyleLst><a:effectStyle><a:effectLst/></a:effectStyle><a:effectStyle><a:effectLst/></a:effectStyle><a:effectStyle><a:effectLst/></a:effectStyle></a:effectStyleLst><a:bgFillStyleLst><a:solidFill><a:schemeClr val="phClr"/></a:solidFill><a:solidFill><a:schemeClr val="phClr"><a:tint val="95000"/></a:schemeClr></a:solidFill><a:solidFill><a:schemeClr val="phClr"><a:shade val="90000"/></a:schemeClr></a:solidFill></a:bgFillStyleLst></a:fmtScheme></a:themeElements><a:objectDefaults/><a:extraClrSchemeLst/></a:theme>"#
    )
    .into_bytes()
}
