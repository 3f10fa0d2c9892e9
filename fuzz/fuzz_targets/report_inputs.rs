#![no_main]
//! The reporter's inputs from users on arbitrary text: the SLO file, `--week` and
//! `--timezone` give a value or an error, never a panic.
use libfuzzer_sys::fuzz_target;
use meshscope_reporter::slo::SloConfig;
use meshscope_reporter::week::{parse_zone, Week};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(c) = SloConfig::parse(s, "slo.yml") {
            let t = c.node("kafka", "kafka-0");
            assert!(t.availability > 0.0 && t.availability < 1.0);
        }
        if let Ok(w) = s.parse::<Week>() {
            let p = w.period(chrono_tz::UTC);
            assert!(p.hours() == 168, "{w}");
            assert_eq!(w.to_string().parse::<Week>().ok(), Some(w));
        }
        let _ = parse_zone(s);
    }
});
