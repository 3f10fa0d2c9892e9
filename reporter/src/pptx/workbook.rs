//! `ppt/embeddings/Microsoft_Excel_WorksheetN.xlsx`: the workbook behind a chart, written
//! with `rust_xlsxwriter`, so that "Edit Data" in PowerPoint opens the values the chart
//! caches. Sheet1: categories in column A from row 2, one series per column from B, the
//! series names in row 1. Gaps are blank cells.

use chrono::{DateTime, Utc};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, XlsxError};

use super::Chart;

/// The spreadsheet column name of a zero-based index: 0 is A, 26 is AA.
pub fn column(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

pub fn workbook(c: &Chart, created: DateTime<Utc>) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    // A fixed creation time (the deck's) keeps the bytes identical for identical input.
    let when = ExcelDateTime::from_timestamp(created.timestamp())?;
    wb.set_properties(&DocProperties::new().set_creation_datetime(&when));
    let format = Format::new().set_num_format(&c.number_format);
    let ws = wb.add_worksheet();
    ws.set_name("Sheet1")?;
    for (r, cat) in c.categories.iter().enumerate() {
        ws.write_string(r as u32 + 1, 0, super::xml::clean(cat))?;
    }
    for (i, s) in c.series.iter().enumerate() {
        let col = i as u16 + 1;
        ws.write_string(0, col, super::xml::clean(&s.name))?;
        for (r, v) in s.values.iter().enumerate() {
            if v.is_finite() {
                ws.write_number_with_format(r as u32 + 1, col, *v, &format)?;
            }
        }
    }
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    #[test]
    fn column_names() {
        let names: Vec<String> = [0, 1, 25, 26, 27, 51, 52, 701, 702]
            .map(super::column)
            .to_vec();
        assert_eq!(names, ["A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]);
    }
}
