//! Prometheus durations: `1y2w3d4h5m6s7ms`, units in descending order.

/// Parse a Prometheus duration into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    const UNITS: [(&str, i64); 8] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("ms", 1),
        ("m", 60_000),
        ("s", 1000),
        ("", 0),
    ];
    let bad = || {
        format!("invalid duration {s:?}: expected a number and a unit (ms, s, m, h, d, w, y), e.g. 15s or 1h30m")
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    let mut last_rank = usize::MAX;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(bad());
        }
        let n: i64 = s[start..i].parse().map_err(|_| bad())?;
        let rest = &s[i..];
        let (rank, (unit, mult)) = UNITS[..7]
            .iter()
            .enumerate()
            .find(|(_, (u, _))| rest.starts_with(u) && !(*u == "m" && rest.starts_with("ms")))
            .ok_or_else(bad)?;
        let rank = if *unit == "ms" {
            6
        } else if rank > 4 {
            rank - 1
        } else {
            rank
        };
        if last_rank != usize::MAX && rank <= last_rank {
            return Err(bad());
        }
        last_rank = rank;
        total = n
            .checked_mul(*mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        i += unit.len();
    }
    Ok(total)
}

/// Format milliseconds the way Prometheus prints durations (`1h30m`, `15s`, `0s`):
/// years and weeks only when they divide the rest exactly (`15d`, not `2w1d`).
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut r = ms;
    for (u, m, exact) in [
        ("y", 365 * 86_400_000, true),
        ("w", 7 * 86_400_000, true),
        ("d", 86_400_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ] {
        if exact && r % m != 0 {
            continue;
        }
        if r >= m {
            out.push_str(&format!("{}{u}", r / m));
            r %= m;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_prometheus() {
        assert_eq!(parse_duration("15s"), Ok(15_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("100ms"), Ok(100));
        assert_eq!(parse_duration("15d"), Ok(15 * 86_400_000));
        assert_eq!(parse_duration("1m5s100ms"), Ok(65_100));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(format_duration(15 * 86_400_000), "15d");
        assert_eq!(format_duration(14 * 86_400_000), "2w");
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(366 * 86_400_000), "366d");
        for bad in ["", "15", "s", "1.5h", "5m1h", "1x", "-1s", "1s1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_format_back() {
        for s in ["15s", "1h30m", "100ms", "15d", "2w", "1y"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
