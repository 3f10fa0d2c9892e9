//! PNG visuals drawn with `plotters` on a bitmap, text with the bundled DejaVu Sans through
//! `ab_glyph` (no system fonts, no fontconfig), encoded with `image`. Gaps are drawn as
//! gaps: grey cells in the heatmap, breaks in the lines.

use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

/// Register the bundled font once; plotters looks it up by family name.
fn fonts() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| "the bundled DejaVu Sans did not load".to_string())?;
        plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold())
            .map_err(|_| "the bundled DejaVu Sans Bold did not load".to_string())
    })
    .clone()
}

fn rgb(hex: &str) -> RGBColor {
    let v = u32::from_str_radix(hex, 16).unwrap_or(0);
    RGBColor((v >> 16) as u8, (v >> 8) as u8, v as u8)
}

fn encode(buf: Vec<u8>, w: u32, h: u32) -> Result<Vec<u8>, String> {
    let img = image::RgbImage::from_raw(w, h, buf).ok_or("bitmap size mismatch")?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

const NO_DATA: RGBColor = RGBColor(0xE4, 0xE4, 0xE4);

/// The colour of a fraction: pale blue at 0, accent blue at 0.5, red at 1 and above.
fn scale(v: f64) -> RGBColor {
    let stops = [
        (0.0, (0xEA, 0xF2, 0xFA)),
        (0.5, (0x1F, 0x6F, 0xB2)),
        (1.0, (0xC0, 0x39, 0x2B)),
    ];
    let v = v.clamp(0.0, 1.0);
    let (a, b) = if v <= 0.5 {
        (stops[0], stops[1])
    } else {
        (stops[1], stops[2])
    };
    let t = (v - a.0) / (b.0 - a.0);
    let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * t).round() as u8;
    RGBColor(
        mix(a.1 .0, b.1 .0),
        mix(a.1 .1, b.1 .1),
        mix(a.1 .2, b.1 .2),
    )
}

/// A node × hour heatmap of fractions (0..1; NaN is no data). `day_starts` are the hours
/// where a day starts, with their labels.
pub fn heatmap(
    title: &str,
    rows: &[(String, Vec<f64>)],
    day_starts: &[(usize, String)],
    (w, h): (u32, u32),
) -> Result<Vec<u8>, String> {
    fonts()?;
    let hours = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(1);
    let n = rows.len().max(1);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (main, legend) = root.split_horizontally(w - 160);
        let label_px = (h as f64 / n as f64 * 0.7).clamp(8.0, 22.0);
        let mut chart = ChartBuilder::on(&main)
            .margin(12)
            .caption(title, ("sans-serif", 30).into_font().style(FontStyle::Bold))
            .x_label_area_size(40)
            .y_label_area_size(200)
            .build_cartesian_2d(0..hours, 0..n)
            .map_err(|e| e.to_string())?;
        let days = day_starts.to_vec();
        let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(hours)
            .x_label_formatter(&|x| {
                days.iter()
                    .find(|d| d.0 == *x)
                    .map(|d| d.1.clone())
                    .unwrap_or_default()
            })
            .y_labels(n)
            .y_label_formatter(&|y| {
                n.checked_sub(1 + *y)
                    .and_then(|i| names.get(i))
                    .cloned()
                    .unwrap_or_default()
            })
            .y_label_style(("sans-serif", label_px))
            .x_label_style(("sans-serif", 20))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(rows.iter().enumerate().flat_map(|(r, (_, vals))| {
                let y = n - 1 - r;
                vals.iter().enumerate().map(move |(x, v)| {
                    let c = if v.is_finite() { scale(*v) } else { NO_DATA };
                    Rectangle::new([(x, y), (x + 1, y + 1)], c.filled())
                })
            }))
            .map_err(|e| e.to_string())?;
        // The scale: 0% to 100%, and the no-data swatch.
        let top = 80i32;
        let bar = (h as i32 - 200).max(40);
        for i in 0..bar {
            let v = 1.0 - i as f64 / bar as f64;
            legend
                .draw(&Rectangle::new(
                    [(20, top + i), (50, top + i + 1)],
                    scale(v).filled(),
                ))
                .map_err(|e| e.to_string())?;
        }
        let style = ("sans-serif", 20).into_font().color(&BLACK);
        for (label, y) in [
            ("100%", top),
            ("50%", top + bar / 2),
            ("0%", top + bar - 10),
        ] {
            legend
                .draw(&Text::new(label, (58, y), style.clone()))
                .map_err(|e| e.to_string())?;
        }
        let y = top + bar + 20;
        legend
            .draw(&Rectangle::new([(20, y), (50, y + 24)], NO_DATA.filled()))
            .map_err(|e| e.to_string())?;
        legend
            .draw(&Text::new("no data", (58, y + 2), style))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    encode(buf, w, h)
}

/// One panel of small multiples: a name and two series (in, out) on the same scale.
pub struct Small {
    pub name: String,
    pub a: Vec<f64>,
    pub b: Vec<f64>,
}

/// Panels in a grid of `cols` columns, each with its own scale, and a legend line.
pub fn small_multiples(
    title: &str,
    labels: (&str, &str),
    colors: (&str, &str),
    panels: &[Small],
    cols: usize,
    (w, h): (u32, u32),
) -> Result<Vec<u8>, String> {
    fonts()?;
    let cols = cols.max(1);
    let rows = panels.len().div_ceil(cols).max(1);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (head, body) = root.split_vertically(56);
        head.draw(&Text::new(
            title,
            (12, 8),
            ("sans-serif", 30).into_font().style(FontStyle::Bold),
        ))
        .map_err(|e| e.to_string())?;
        let (ca, cb) = (rgb(colors.0), rgb(colors.1));
        let lx = w as i32 - 420;
        for (i, (label, c)) in [(labels.0, ca), (labels.1, cb)].into_iter().enumerate() {
            let x = lx + i as i32 * 200;
            head.draw(&Rectangle::new([(x, 22), (x + 36, 28)], c.filled()))
                .map_err(|e| e.to_string())?;
            head.draw(&Text::new(label, (x + 44, 14), ("sans-serif", 22)))
                .map_err(|e| e.to_string())?;
        }
        let areas = body.split_evenly((rows, cols));
        for (p, area) in panels.iter().zip(areas.iter()) {
            let n = p.a.len().max(p.b.len()).max(2);
            let top =
                p.a.iter()
                    .chain(&p.b)
                    .copied()
                    .filter(|v| v.is_finite())
                    .fold(0.0f64, f64::max);
            let top = if top > 0.0 { top * 1.1 } else { 1.0 };
            let mut chart = ChartBuilder::on(area)
                .margin(8)
                .caption(&p.name, ("sans-serif", 22))
                .x_label_area_size(0)
                .y_label_area_size(70)
                .build_cartesian_2d(0f64..(n - 1) as f64, 0f64..top)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(RGBColor(0xEE, 0xEE, 0xEE))
                .y_labels(3)
                .y_label_formatter(&|v| crate::format::si(*v))
                .y_label_style(("sans-serif", 16))
                .draw()
                .map_err(|e| e.to_string())?;
            for (vals, c) in [(&p.a, ca), (&p.b, cb)] {
                // A line per run of values: a gap breaks the line.
                let mut run: Vec<(f64, f64)> = Vec::new();
                let mut flush = |run: &mut Vec<(f64, f64)>| -> Result<(), String> {
                    if run.len() > 1 {
                        chart
                            .draw_series(LineSeries::new(run.drain(..), c.stroke_width(3)))
                            .map_err(|e| e.to_string())?;
                    } else if let Some(pt) = run.pop() {
                        chart
                            .draw_series(std::iter::once(Circle::new(pt, 2, c.filled())))
                            .map_err(|e| e.to_string())?;
                    }
                    run.clear();
                    Ok(())
                };
                for (i, v) in vals.iter().enumerate() {
                    if v.is_finite() {
                        run.push((i as f64, *v));
                    } else {
                        flush(&mut run)?;
                    }
                }
                flush(&mut run)?;
            }
        }
        root.present().map_err(|e| e.to_string())?;
    }
    encode(buf, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_pngs_with_gaps_and_hostile_names() {
        let rows: Vec<(String, Vec<f64>)> = (0..5)
            .map(|i| {
                let mut v: Vec<f64> = (0..168).map(|h| ((h + i * 7) % 24) as f64 / 24.0).collect();
                v[i * 10] = f64::NAN;
                (format!("node-{i} <&> \u{1F600}"), v)
            })
            .collect();
        let days: Vec<(usize, String)> = (0..7).map(|d| (d * 24, format!("D{d}"))).collect();
        let png = heatmap("Utilisation", &rows, &days, (1600, 600)).unwrap_or_default();
        assert!(png.starts_with(b"\x89PNG"));
        let a = heatmap("Utilisation", &rows, &days, (1600, 600)).unwrap_or_default();
        assert_eq!(png, a, "the same input draws the same bytes");
        let panels: Vec<Small> = rows
            .iter()
            .map(|(n, v)| Small {
                name: n.clone(),
                a: v.clone(),
                b: v.iter().map(|x| x / 2.0).collect(),
            })
            .collect();
        let png = small_multiples(
            "Nodes",
            ("in", "out"),
            ("1F6FB2", "E8833A"),
            &panels,
            3,
            (1600, 800),
        )
        .unwrap_or_default();
        assert!(png.starts_with(b"\x89PNG"));
        // Empty and degenerate input still draws.
        assert!(heatmap("empty", &[], &[], (400, 300)).is_ok());
        let flat = [Small {
            name: String::new(),
            a: vec![f64::NAN; 3],
            b: vec![],
        }];
        assert!(
            small_multiples("", ("a", "b"), ("000000", "FFFFFF"), &flat, 1, (400, 300)).is_ok()
        );
        if let Ok(dir) = std::env::var("MESHSCOPE_PPTX_SAMPLE_DIR") {
            let _ = std::fs::write(
                format!("{dir}/heatmap.png"),
                heatmap("Utilisation", &rows, &days, (1600, 600)).unwrap_or_default(),
            );
            let _ = std::fs::write(format!("{dir}/small.png"), &png);
        }
    }
}
