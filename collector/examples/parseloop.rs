//! Parse one exposition file N times (full parse, every label unescaped): a fixed
//! workload for profilers (`valgrind --tool=callgrind`).
//!
//! `cargo run --release -p meshscope-collector --example parseloop -- FILE [N]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use meshscope_collector::exposition::{Event, Format, Parser};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let body = std::fs::read(&args[1]).expect("read FILE");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let mut total = 0usize;
    for _ in 0..n {
        let mut p = Parser::new(&body, Format::Text);
        while let Ok(Some(ev)) = p.next() {
            if let Event::Sample(s) = ev {
                total += s.labels().map(|(k, v)| k.len() + v.len()).sum::<usize>();
                total += s.value.to_bits() as usize & 1;
            }
        }
    }
    println!("{total}");
}
