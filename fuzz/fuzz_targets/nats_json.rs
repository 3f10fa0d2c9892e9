#![no_main]
//! `meshscope exporter nats` on arbitrary monitoring answers: any JSON body for any
//! endpoint renders without a panic, into an exposition our own parser accepts.
use libfuzzer_sys::fuzz_target;
use meshscope::exporter::nats::{render, Bodies, JszFilter, Options};
use meshscope_collector::exposition::{Format, Parser};

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let o = Options {
        prefix: None,
        server_id: "http://127.0.0.1:8222".into(),
        varz: true,
        connz: true,
        routez: true,
        subsz: true,
        jsz: Some(JszFilter::Consumers),
    };
    let mut b = Bodies::new();
    for path in o.paths() {
        b.insert(path, v.clone());
    }
    let out = render(&o, &b);
    let mut p = Parser::new(out.as_bytes(), Format::Text);
    loop {
        match p.next() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => panic!("{e:?} in\n{out}"),
        }
    }
});
