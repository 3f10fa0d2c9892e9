//! `meshscope check ...`

use std::process::ExitCode;

use meshscope_collector::exposition::{self, Format};

use meshscope_collector::config;
use meshscope_collector::scrape::discovery;

use super::{read_input, CheckConfig, CheckMetrics, CheckRules, ExpositionFormat, TestRules};

pub fn metrics(args: &CheckMetrics) -> anyhow::Result<ExitCode> {
    let body = read_input(args.file.as_ref())?;
    let format = match args.format {
        ExpositionFormat::Text => Format::Text,
        ExpositionFormat::Openmetrics => Format::OpenMetrics,
    };
    let name = args
        .file
        .as_ref()
        .map_or_else(|| "-".to_string(), |p| p.display().to_string());
    match exposition::validate(&body, format) {
        Ok(n) => {
            println!("{name}: valid, {n} samples");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{name}:{}:{}: {}", e.line, e.column, e.message);
            Ok(ExitCode::from(1))
        }
    }
}

/// Like `promtool check config`: the file, the files it names (credentials, TLS files,
/// file_sd files that exist now), one verdict per file.
pub fn config(args: &CheckConfig) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    for f in &args.files {
        println!("Checking {}", f.display());
        match check_one(f) {
            Ok(notes) => {
                for n in notes {
                    println!("  {n}");
                }
                println!("  SUCCESS: {} is a valid configuration", f.display());
            }
            Err(errors) => {
                ok = false;
                for e in errors {
                    println!("  FAILED: {e}");
                }
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `meshscope check rules`: parse and check rule files, as `promtool check rules`.
pub fn rules(args: &CheckRules) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    for f in &args.files {
        println!("Checking {}", f.display());
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                ok = false;
                println!("  FAILED: {}: cannot read the file: {e}", f.display());
                continue;
            }
        };
        match meshscope_collector::rules::parse_rules(&text, &f.display().to_string()) {
            Ok(groups) => {
                let n: usize = groups.iter().map(|g| g.rules.len()).sum();
                println!("  SUCCESS: {n} rules found");
            }
            Err(e) => {
                ok = false;
                println!("  FAILED: {e}");
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `meshscope test rules`: promtool's rule unit tests on our engine, reported as promtool
/// reports them.
pub fn test_rules(args: &TestRules) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    for f in &args.files {
        println!("Unit Testing:  {}", f.display());
        match meshscope_collector::rules::unit_test::run_file(f) {
            Ok(o) if o.failures.is_empty() => println!("  SUCCESS"),
            Ok(o) => {
                ok = false;
                println!("  FAILED:");
                for x in &o.failures {
                    for line in x.lines() {
                        println!("    {line}");
                    }
                }
            }
            Err(e) => {
                ok = false;
                println!("  FAILED: {e}");
            }
        }
        println!();
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check_one(f: &std::path::Path) -> Result<Vec<String>, Vec<String>> {
    let cfg = config::load_file(f).map_err(|e| vec![e.to_string()])?;
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    for (key, p) in cfg.referenced_files() {
        if let Err(e) = std::fs::metadata(&p) {
            errors.push(format!("{key}: {}: {e}", p.display()));
        }
    }
    if let Err(e) = meshscope_collector::rules::load_rule_files(&cfg.rule_files, &cfg.base_dir) {
        errors.push(e);
    }
    for sc in &cfg.scrape_configs {
        for fsd in &sc.file_sd_configs {
            for pat in &fsd.files {
                let full = cfg.resolve(pat);
                let paths: Vec<_> = glob::glob(&full.to_string_lossy())
                    .map(|g| g.flatten().collect())
                    .unwrap_or_default();
                if paths.is_empty() {
                    notes.push(format!(
                        "WARNING: job {:?}: file_sd pattern {} matches no file yet",
                        sc.job_name,
                        full.display()
                    ));
                }
                for p in paths {
                    if let Err(e) = discovery::read_sd_file(&p) {
                        errors.push(format!("job {:?}: {e}", sc.job_name));
                    }
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(notes)
    } else {
        Err(errors)
    }
}
