//! `meshscope check ...`

use std::process::ExitCode;

use meshscope_collector::exposition::{self, Format};

use super::{read_input, CheckMetrics, ExpositionFormat};

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
