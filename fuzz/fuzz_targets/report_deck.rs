#![no_main]
//! Whole decks from fuzzed label values and series: the deck is always written and always
//! passes the package lint (the same checks that guard every deck before it is saved).
use libfuzzer_sys::fuzz_target;
use meshscope_reporter::model::Report;
use meshscope_reporter::query::{Metric, WeekData};
use meshscope_reporter::slo::SloConfig;
use meshscope_reporter::week::Week;
use meshscope_reporter::{deck, pptx, sample};

fuzz_target!(|data: &[u8]| {
    let (labels, values) = data.split_at(data.len().min(96));
    let text = String::from_utf8_lossy(labels);
    let names: Vec<(String, String)> = text
        .split('\n')
        .take(4)
        .enumerate()
        .map(|(i, l)| {
            let (n, r) = l.split_once('\t').unwrap_or((l, "kafka"));
            (format!("{n}#{i}"), r.to_string())
        })
        .collect();
    let value = |n: usize, m: Metric, j: usize| -> f64 {
        if values.is_empty() {
            return f64::NAN;
        }
        let k = (n * 31 + m as usize * 7 + j) % values.len();
        let b = values[k];
        match b % 8 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => -1e300,
            3 if m == Metric::Up => 0.0,
            _ => f64::from(b) * 1.5,
        }
    };
    let tz = chrono_tz::Asia::Kathmandu;
    let this = WeekData::synthetic(Week { year: 2026, week: 13 }.period(tz), &names, &value);
    let prev = WeekData::synthetic(Week { year: 2026, week: 12 }.period(tz), &names, &value);
    let r = Report::new(this, Some(prev), &SloConfig::default());
    let d = deck::build(&r, &sample::meta()).expect("the deck builds");
    let bytes = pptx::write(&d).expect("the deck is written");
    let findings = pptx::lint::lint(&bytes);
    assert!(findings.is_empty(), "{findings:?}");
});
