//! Numbers, durations and times as the deck prints them.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A count or rate with an SI suffix: 950, 1.2k, 3.4M, 5.6G.
pub fn si(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    // -0 (an empty f64 sum is -0 in Rust) prints as 0.
    let v = if v == 0.0 { 0.0 } else { v };
    let a = v.abs();
    let (d, s) = if a >= 1e12 {
        (1e12, "T")
    } else if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if s.is_empty() && (x.fract() == 0.0 || a >= 100.0) {
        format!("{x:.0}")
    } else if x.abs() >= 100.0 {
        format!("{x:.0}{s}")
    } else if x.abs() >= 10.0 || s.is_empty() && a >= 10.0 {
        format!("{x:.1}{s}")
    } else {
        format!("{x:.2}{s}")
    }
}

/// Bytes with a binary suffix.
pub fn bytes(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut x = v;
    let mut u = 0;
    while x.abs() >= 1024.0 && u + 1 < units.len() {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{x:.0} B")
    } else {
        format!("{x:.1} {}", units[u])
    }
}

/// A fraction as a percentage with enough digits for availability: 99.95%.
pub fn pct(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let p = v * 100.0;
    if (99.0..100.0).contains(&p) {
        format!("{:.2}%", (p * 100.0).floor() / 100.0)
    } else {
        format!("{p:.1}%")
    }
}

/// Seconds of latency: 850 µs, 212 ms, 1.25 s.
pub fn latency(s: f64) -> String {
    if !s.is_finite() {
        "–".into()
    } else if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// A duration: 45 s, 12 min, 3 h 05 min, 2 d 4 h.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else if s < 86_400 {
        format!("{} h {:02} min", s / 3600, s % 3600 / 60)
    } else {
        format!("{} d {} h", s / 86_400, s % 86_400 / 3600)
    }
}

/// A Unix time in the deck's zone: "Mon 16 Nov 14:05".
pub fn local(t: i64, tz: Tz) -> String {
    match Utc.timestamp_opt(t, 0).single() {
        Some(d) => d.with_timezone(&tz).format("%a %-d %b %H:%M").to_string(),
        None => t.to_string(),
    }
}

/// RFC 3339 in the deck's zone, for notes.
pub fn rfc3339(t: i64, tz: Tz) -> String {
    match Utc.timestamp_opt(t, 0).single() {
        Some(d) => d.with_timezone(&tz).to_rfc3339(),
        None => t.to_string(),
    }
}

pub fn utc(d: DateTime<Utc>) -> String {
    d.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A week-over-week change: "▲ 12%", "▼ 3.5%", "► 0%", or "–" without a previous value.
pub fn change(now: f64, before: Option<f64>) -> String {
    match before {
        Some(b) if b.is_finite() && now.is_finite() && b != 0.0 => {
            let r = (now - b) / b.abs() * 100.0;
            let arrow = if r > 0.5 {
                "▲"
            } else if r < -0.5 {
                "▼"
            } else {
                "►"
            };
            if r.abs() >= 10.0 {
                format!("{arrow} {:.0}%", r.abs())
            } else {
                format!("{arrow} {:.1}%", r.abs())
            }
        }
        Some(b) if b == 0.0 && now == 0.0 => "► 0%".into(),
        Some(b) if b == 0.0 && now.is_finite() => "▲ new".into(),
        _ => "–".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            [0.0, 7.0, 12.5, 950.0, 1234.0, 56_789.0, 3.4e6, 5.6e9].map(si),
            ["0", "7", "12.5", "950", "1.23k", "56.8k", "3.40M", "5.60G"]
        );
        // An empty sum is -0: shown as 0.
        assert_eq!(si(Vec::<f64>::new().into_iter().sum()), "0");
        assert_eq!(pct(0.99951), "99.95%");
        assert_eq!(pct(0.999999), "99.99%", "never rounds up to 100%");
        assert_eq!(pct(1.0), "100.0%");
        assert_eq!(pct(0.5), "50.0%");
        assert_eq!(
            [0.0005, 0.212, 1.25].map(latency),
            ["500 µs", "212 ms", "1.25 s"]
        );
        assert_eq!(
            [30, 720, 11_100, 190_000].map(duration),
            ["30 s", "12 min", "3 h 05 min", "2 d 4 h"]
        );
        assert_eq!(change(112.0, Some(100.0)), "▲ 12%");
        assert_eq!(change(96.5, Some(100.0)), "▼ 3.5%");
        assert_eq!(change(1.0, None), "–");
        assert_eq!(change(1.0, Some(0.0)), "▲ new");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(local(1_763_334_000, Tz::UTC), "Sun 16 Nov 23:00");
    }
}
