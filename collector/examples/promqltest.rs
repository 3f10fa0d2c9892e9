//! Run Prometheus's promqltest scripts against meshscope's PromQL engine.
//!
//! `cargo run --release -p meshscope-collector --example promqltest -- FILE...`
//!
//! Prints each failing case with the expected and actual results, then a last line
//! `N passed, M failed`; exits 1 if any case failed (2 if a file cannot be read).

use meshscope_collector::promql::{test_script, EvalOptions};

fn main() {
    let files: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    if files.is_empty() {
        eprintln!("usage: promqltest FILE...");
        std::process::exit(2);
    }
    let outcome = match test_script::run_files(&files, &EvalOptions::default()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("promqltest: {e}");
            std::process::exit(2);
        }
    };
    for f in &outcome.failures {
        println!("FAIL {}:{}: {}\n  {}\n", f.file, f.line, f.query, f.message);
    }
    println!(
        "{} passed, {} failed",
        outcome.passed,
        outcome.failures.len()
    );
    if !outcome.failures.is_empty() {
        std::process::exit(1);
    }
}
