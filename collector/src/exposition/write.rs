//! Writing expositions: the one formatting of values, timestamps and label values that
//! `tsdb dump` and the simulator share.

/// Format a float as Prometheus does: integers without a fraction, otherwise the
/// shortest text that parses back to the same value; `NaN`, `+Inf`, `-Inf`.
pub fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}

/// An OpenMetrics timestamp (seconds) from milliseconds, without trailing zeros.
pub fn fmt_timestamp(ms: i64) -> String {
    if ms % 1000 == 0 {
        format!("{}", ms / 1000)
    } else {
        let s = format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000));
        s.trim_end_matches('0').to_string()
    }
}

/// Escape a label value for both text formats.
pub fn escape_label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_timestamps_format_like_prometheus() {
        assert_eq!(fmt_value(3.0), "3");
        assert_eq!(fmt_value(0.25), "0.25");
        assert_eq!(fmt_value(f64::NAN), "NaN");
        assert_eq!(fmt_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(fmt_value(1e300), "1e300");
        assert_eq!(fmt_value(0.1 + 0.2).parse::<f64>().unwrap(), 0.1 + 0.2);
        assert_eq!(fmt_timestamp(1_500), "1.5");
        assert_eq!(fmt_timestamp(-1_500), "-2.5");
        assert_eq!(fmt_timestamp(2_000), "2");
        assert_eq!(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
