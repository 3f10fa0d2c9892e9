//! Parser throughput on every body in `../shared/corpus/`, side by side with the
//! `prometheus-parse` crate in the same run.
//!
//! `cargo bench -p meshscope-collector --bench parser`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use meshscope_collector::exposition::{Event, Format, Parser};

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            Some((
                p.file_name()?.to_string_lossy().into_owned(),
                std::fs::read(&p).ok()?,
            ))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for (name, body) in corpus() {
        let mut g = c.benchmark_group(format!("parse/{name}"));
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function("meshscope", |b| {
            b.iter(|| {
                // Full parse: every sample and every label unescaped, as on a cache miss.
                let mut p = Parser::new(&body, Format::Text);
                let mut n = 0usize;
                while let Ok(Some(ev)) = p.next() {
                    if let Event::Sample(s) = ev {
                        n += s.labels().map(|(k, v)| k.len() + v.len()).sum::<usize>();
                    }
                }
                n
            })
        });
        g.bench_function("meshscope-cached", |b| {
            b.iter(|| {
                // The scrape path on a cache hit: series bytes and values only.
                let mut p = Parser::new(&body, Format::Text);
                let mut n = 0usize;
                while let Ok(Some(ev)) = p.next() {
                    if let Event::Sample(s) = ev {
                        n += s.series.len();
                    }
                }
                n
            })
        });
        let text = String::from_utf8_lossy(&body).into_owned();
        g.bench_function("prometheus-parse", |b| {
            b.iter(|| {
                let lines = text.lines().map(|l| Ok(l.to_owned()));
                prometheus_parse::Scrape::parse(lines)
                    .map(|s| s.samples.len())
                    .unwrap_or(0)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
