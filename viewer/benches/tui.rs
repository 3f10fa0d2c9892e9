//! Rendering one terminal-dashboard frame of 100 nodes at 200x60 (target: at most 1 ms).
//! `cargo bench -p meshscope-viewer --bench tui`

use criterion::{criterion_group, criterion_main, Criterion};
use meshscope_viewer::model::{Link, Model, Series, UP};
use meshscope_viewer::tui::render::draw;
use meshscope_viewer::tui::state::{Screen, State};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn model(nodes: usize) -> Model {
    let mut m = Model::new("http://127.0.0.1:9477", 600_000, 1000);
    let roles = [
        "pulsar", "kafka", "rabbitmq", "nats", "grpc", "envoy", "host", "router",
    ];
    for i in 0..nodes {
        let (role, name) = (
            roles[i % roles.len()],
            format!("{}-{}", roles[i % roles.len()], i / roles.len()),
        );
        for t in 0..600i64 {
            let v = 100.0 + ((t as f64) / 20.0 + i as f64).sin() * 30.0;
            for s in Series::ALL {
                m.add(s.record(), &name, role, 1_000_000 + t * 1000, v);
            }
        }
        m.add(UP, &name, role, 1_600_000, 1.0);
    }
    let names = m.names();
    m.set_links(
        names
            .iter()
            .zip(names.iter().skip(1))
            .map(|(a, b)| Link {
                src: a.clone(),
                dst: b.clone(),
                service: None,
                messages: 10.0,
                bytes: 1000.0,
                bgp_up: None,
            })
            .collect(),
    );
    m
}

fn bench(c: &mut Criterion) {
    let m = model(100);
    let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap_or_else(|e| panic!("{e}"));
    let overview = State::default();
    c.bench_function("tui overview, 100 nodes, 200x60", |b| {
        b.iter(|| term.draw(|f| draw(f, &m, &overview, 600_000)).map(|_| ()))
    });
    let node = State {
        screen: Screen::Node("kafka-3".into()),
        ..State::default()
    };
    c.bench_function("tui node detail, 200x60", |b| {
        b.iter(|| term.draw(|f| draw(f, &m, &node, 600_000)).map(|_| ()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
