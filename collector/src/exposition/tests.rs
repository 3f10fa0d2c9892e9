use super::*;

type Got = Vec<(String, Vec<(String, String)>, f64, Option<i64>)>;

fn samples(body: &str, format: Format) -> Got {
    let mut p = Parser::new(body.as_bytes(), format);
    let mut out = Vec::new();
    while let Some(ev) = p.next().unwrap_or_else(|e| panic!("{body}: {e}")) {
        if let Event::Sample(s) = ev {
            let labels = s
                .labels()
                .map(|(n, v)| (n.to_string(), v.into_owned()))
                .collect();
            out.push((s.name.to_string(), labels, s.value, s.timestamp_ms));
        }
    }
    out
}

fn err(body: &str, format: Format) -> ParseError {
    validate(body.as_bytes(), format).expect_err(body)
}

#[test]
fn text_format_is_lenient_like_prometheus() {
    let body = "# HELP a help \\n text\n# TYPE a counter\n\n  a{x=\"1\" , y = \"2\",} 3 1000\n# random comment\nb\t4.5\nc{} +Inf\n";
    let s = samples(body, Format::Text);
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].0, "a");
    assert_eq!(
        s[0].1,
        vec![("x".into(), "1".into()), ("y".into(), "2".into())]
    );
    assert_eq!(s[0].2, 3.0);
    assert_eq!(s[0].3, Some(1000));
    assert_eq!(s[1].2, 4.5);
    assert_eq!(s[2].2, f64::INFINITY);
}

#[test]
fn text_help_and_type_events() {
    let mut p = Parser::new(b"# HELP a x\\\\y\\nz\n# TYPE a untyped\n", Format::Text);
    assert_eq!(
        p.next().unwrap(),
        Some(Event::Help {
            name: "a",
            text: "x\\y\nz".into()
        })
    );
    assert_eq!(
        p.next().unwrap(),
        Some(Event::Type {
            name: "a",
            ty: MetricType::Unknown
        })
    );
    assert_eq!(p.next().unwrap(), None);
}

#[test]
fn label_escapes_are_unescaped() {
    let s = samples("a{x=\"q\\\"u\\\\o\\nte\\z\"} 1\n", Format::Text);
    assert_eq!(s[0].1[0].1, "q\"u\\o\nte\\z");
}

#[test]
fn raw_series_bytes_identify_the_series() {
    let body = "a{x=\"1\"} 1\na{x=\"1\"} 2 5\n";
    let mut p = Parser::new(body.as_bytes(), Format::Text);
    let Some(Event::Sample(a)) = p.next().unwrap() else {
        panic!()
    };
    let Some(Event::Sample(b)) = p.next().unwrap() else {
        panic!()
    };
    assert_eq!(a.series, b"a{x=\"1\"}");
    assert_eq!(a.series, b.series);
}

#[test]
fn text_errors_name_line_and_column() {
    let cases = [
        ("a 1\nb{x=1} 2\n", 2, 5, "'\"'"),
        ("a 1\nb 2 3 4\n", 2, 7, "after the timestamp"),
        ("a x\n", 1, 3, "invalid value"),
        ("a 1 1.5\n", 1, 5, "timestamp"),
        ("# TYPE a foo\n", 1, 10, "invalid metric type"),
        ("a{x=\"1\" 1\n", 1, 9, "','"),
        ("1a 1\n", 1, 1, "metric name"),
        ("a{x=\"1\"\n", 1, 8, "'}'"),
    ];
    for (body, line, col, msg) in cases {
        let e = err(body, Format::Text);
        assert_eq!((e.line, e.column), (line, col), "{body:?}: {e}");
        assert!(e.message.contains(msg), "{body:?}: {e}");
    }
}

#[test]
fn openmetrics_requires_eof() {
    assert!(err("a 1\n", Format::OpenMetrics).message.contains("# EOF"));
    assert_eq!(validate(b"a 1\n# EOF\n", Format::OpenMetrics), Ok(1));
    assert_eq!(validate(b"a 1\n# EOF", Format::OpenMetrics), Ok(1));
    assert!(validate(b"a 1\n# EOF\n\n", Format::OpenMetrics).is_err());
}

#[test]
fn openmetrics_timestamps_are_seconds() {
    let s = samples("a_total 1 1.5\n# EOF\n", Format::OpenMetrics);
    assert_eq!(s[0].3, Some(1500));
}

#[test]
fn openmetrics_exemplars_are_parsed() {
    let body = "# TYPE a counter\na_total 1 # {trace_id=\"x\"} 0.5 2\n# EOF\n";
    let mut p = Parser::new(body.as_bytes(), Format::OpenMetrics);
    p.next().unwrap();
    let Some(Event::Sample(s)) = p.next().unwrap() else {
        panic!()
    };
    let ex = s.exemplar.unwrap();
    assert_eq!(ex.value, 0.5);
    assert_eq!(ex.timestamp_ms, Some(2000));
    assert_eq!(ex.labels().next().unwrap(), ("trace_id", "x".into()));
}

#[test]
fn corpus_bodies_parse_as_text() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("no corpus at {}", dir.display());
        return;
    };
    for e in entries.flatten() {
        let body = std::fs::read(e.path()).unwrap();
        let n = validate(&body, Format::Text)
            .unwrap_or_else(|err| panic!("{}: {err}", e.path().display()));
        assert!(n > 100, "{}: {n} samples", e.path().display());
    }
}

/// Runs the OpenMetrics parser conformance suite from `../shared/conformance/openmetrics`.
#[test]
fn openmetrics_conformance_suite() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/openmetrics");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("no OpenMetrics conformance suite at {}", dir.display());
        return;
    };
    let (mut passed, mut failed) = (0, Vec::new());
    let mut cases: Vec<_> = entries
        .flatten()
        .filter(|e| e.path().join("test.json").exists())
        .collect();
    cases.sort_by_key(|e| e.file_name());
    for e in cases {
        let spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path().join("test.json")).unwrap()).unwrap();
        let should = spec["shouldParse"].as_bool().unwrap();
        let body = std::fs::read(e.path().join("metrics")).unwrap();
        let got = validate(&body, Format::OpenMetrics);
        if got.is_ok() == should {
            passed += 1;
        } else {
            failed.push(format!(
                "{}: shouldParse={should}, got {got:?}",
                e.file_name().to_string_lossy()
            ));
        }
    }
    for f in &failed {
        eprintln!("FAIL {f}");
    }
    println!(
        "openmetrics conformance: {passed} passed, {} failed",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} OpenMetrics conformance cases failed",
        failed.len()
    );
}

#[test]
fn streamed_parse_equals_whole_parse() {
    let mut body = String::new();
    for i in 0..200_000 {
        body.push_str(&format!("# TYPE m{i} gauge\nm{i}{{x=\"{i}\"}} {i} {i}\n"));
    }
    body.push_str("# EOF\n");
    let mut n = 0usize;
    parse_stream::<std::convert::Infallible>(body.as_bytes(), Format::OpenMetrics, |ev| {
        if let Event::Sample(s) = ev {
            assert_eq!(s.value, n as f64);
            n += 1;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(n, 200_000);
    let bad = body.replace("m150000{x", "m150000{1x");
    let e =
        parse_stream::<std::convert::Infallible>(bad.as_bytes(), Format::OpenMetrics, |_| Ok(()))
            .unwrap_err();
    assert!(e.to_string().contains("line 300002"), "{e}");
    let no_eof = &body[..body.len() - 6];
    assert!(parse_stream::<std::convert::Infallible>(
        no_eof.as_bytes(),
        Format::OpenMetrics,
        |_| Ok(())
    )
    .is_err());
}

#[test]
fn known_series_skip_the_label_scan_with_the_same_result() {
    let body =
        b"# TYPE a counter\na{x=\"1\",y=\"}\"} 1\nb { z = \"2\" } 2 1000\nc 3\nd{e=\"f\\\"}\"} 4\n";
    let collect = |known: &dyn Fn(u128) -> bool| {
        let mut p = Parser::new(body, Format::Text);
        let mut out = Vec::new();
        while let Some(ev) = p.next_with(known).unwrap() {
            if let Event::Sample(s) = ev {
                let labels: Vec<(String, String)> = s
                    .labels()
                    .map(|(n, v)| (n.to_string(), v.into_owned()))
                    .collect();
                out.push((
                    s.series.to_vec(),
                    s.name.to_string(),
                    labels,
                    s.value,
                    s.timestamp_ms,
                    s.key,
                ));
            }
        }
        out
    };
    let slow = collect(&|_| false);
    assert!(slow.iter().all(|s| s.5.is_none()));
    let keys: std::collections::HashSet<u128> = slow.iter().map(|s| series_key(&s.0)).collect();
    let fast = collect(&|k| keys.contains(&k));
    assert_eq!(slow.len(), fast.len());
    for (a, b) in slow.iter().zip(&fast) {
        assert_eq!((&a.0, &a.1, &a.2, a.3, a.4), (&b.0, &b.1, &b.2, b.3, b.4));
    }
    // Series whose label values hold `}` cannot take the fast path; the others do.
    let took: Vec<bool> = fast.iter().map(|s| s.5.is_some()).collect();
    assert_eq!(took, vec![false, true, false, false]);
}

/// OpenMetrics 1.0's rules for the counts and sums of histograms and gauge histograms
/// (and a summary's count), as the reference parser applies them.
#[test]
fn openmetrics_histogram_counts_and_sums() {
    let body = |ty: &str, lines: &str| format!("# TYPE a {ty}\n{lines}# EOF\n");
    let bad = [
        // Bucket and count values are integers.
        (
            "histogram",
            "a_bucket{le=\"+Inf\"} 1.5\na_count 1.5\na_sum 1\n",
            "integer",
        ),
        (
            "histogram",
            "a_bucket{le=\"+Inf\"} 2\na_count 2.5\na_sum 1\n",
            "integer",
        ),
        ("gaugehistogram", "a_bucket{le=\"+Inf\"} 0.5\n", "integer"),
        (
            "gaugehistogram",
            "a_bucket{le=\"+Inf\"} 1\na_gcount 1.5\na_gsum 1\n",
            "integer",
        ),
        ("summary", "a_count 1.5\na_sum 1\n", "integer"),
        // _gcount is the +Inf bucket, as _count is.
        (
            "gaugehistogram",
            "a_bucket{le=\"+Inf\"} 1\na_gcount 2\na_gsum 1\n",
            "+Inf bucket",
        ),
        (
            "histogram",
            "a_bucket{le=\"+Inf\"} 1\na_count 2\na_sum 1\n",
            "+Inf bucket",
        ),
        // A negative _gsum needs negative buckets; a _sum must not have them.
        (
            "gaugehistogram",
            "a_bucket{le=\"+Inf\"} 1\na_gsum -1\na_gcount 1\n",
            "negative _gsum",
        ),
        (
            "histogram",
            "a_bucket{le=\"-1\"} 0\na_bucket{le=\"+Inf\"} 0\na_sum 0\na_count 0\n",
            "negative buckets",
        ),
        (
            "gaugehistogram",
            "a_bucket{le=\"+Inf\"} 1\na_gsum NaN\na_gcount 1\n",
            "NaN",
        ),
        (
            "histogram",
            "a_bucket{le=\"+Inf\"} 1\na_count 1\na_sum -1\n",
            ">= 0",
        ),
    ];
    for (ty, lines, want) in bad {
        let e = err(&body(ty, lines), Format::OpenMetrics);
        assert!(e.to_string().contains(want), "{ty} {lines:?}: {e}");
    }
    let good = [
        (
            "gaugehistogram",
            "a_bucket{le=\"-1\"} 0\na_bucket{le=\"+Inf\"} 1\na_gsum -3\na_gcount 1\n",
        ),
        (
            "gaugehistogram",
            "a_bucket{le=\"+Inf\"} 1\na_gsum 0.5\na_gcount 1\n",
        ),
        (
            "histogram",
            "a_bucket{le=\"-1\"} 0\na_bucket{le=\"+Inf\"} 2\n",
        ),
        (
            "histogram",
            "a_bucket{le=\"1\"} 1\na_bucket{le=\"+Inf\"} 2\na_count 2\na_sum 2.5\n",
        ),
        ("summary", "a{quantile=\"0.5\"} 1.5\na_count 2\na_sum 3.5\n"),
    ];
    for (ty, lines) in good {
        samples(&body(ty, lines), Format::OpenMetrics);
    }
}
