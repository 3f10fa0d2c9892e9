//! `--query.max-length` and `--query.max-depth`: every recursive construct of PromQL is
//! refused past the limit before a tree is built, the text measure is an upper bound of
//! the tree's real depth, and a tree at the ceiling survives every walk.

use promql_parser::parser::Expr;

use super::*;
use crate::promql::test_script::{deep_queries, MemStore};

/// The tree's depth, one level per node, as the evaluator walks it.
fn tree_depth(e: &Expr) -> usize {
    1 + match e {
        Expr::Aggregate(a) => {
            let p = a.param.as_deref().map_or(0, tree_depth);
            p.max(tree_depth(&a.expr))
        }
        Expr::Unary(u) => tree_depth(&u.expr),
        Expr::Binary(b) => tree_depth(&b.lhs).max(tree_depth(&b.rhs)),
        Expr::Paren(p) => tree_depth(&p.expr),
        Expr::Subquery(s) => tree_depth(&s.expr),
        Expr::Call(c) => c.args.args.iter().map(|a| tree_depth(a)).max().unwrap_or(0),
        _ => 0,
    }
}

fn is_depth_error(e: &QueryError) -> bool {
    matches!(e, QueryError::BadData(m) if m.contains("--query.max-depth") && m.contains("parse error"))
}

#[test]
fn every_nesting_construct_is_refused_past_the_limit_without_building_a_tree() {
    let limits = QueryLimits::default();
    for (what, q) in deep_queries(10 * limits.max_depth) {
        // On the test's own small stack: the text is refused before anything recurses.
        let e = parse_with(&q, &limits).expect_err(what);
        assert!(is_depth_error(&e), "{what}: {e:?}");
        assert!(e.message().starts_with("1:"), "{what}: {e:?}");
    }
    // The attacks of the issue: 2,000 nested sums, 20,000 terms.
    let sums = format!("{}up{}", "sum(".repeat(2000), ")".repeat(2000));
    assert!(is_depth_error(&parse(&sums).unwrap_err()));
    let terms = format!("1{}", "+1".repeat(20_000));
    assert!(is_depth_error(&parse(&terms).unwrap_err()));
}

#[test]
fn the_text_measure_bounds_the_real_depth() {
    let limits = QueryLimits {
        max_depth: MAX_DEPTH_CEILING,
        ..QueryLimits::default()
    };
    let run = move || {
        for n in [1usize, 2, 3, 7, 50, 200] {
            for (what, q) in deep_queries(n) {
                let measured = query_depth(&q);
                let e = parse_with(&q, &limits).unwrap_or_else(|e| panic!("{what} {n}: {e:?}"));
                let real = tree_depth(&e);
                assert!(
                    real <= measured,
                    "{what} at {n}: tree {real} > measure {measured}"
                );
                if !what.contains("numbers") {
                    assert!(real >= n, "{what} at {n}: tree {real}");
                }
            }
        }
    };
    std::thread::Builder::new()
        .stack_size(QUERY_THREAD_STACK)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn a_tree_at_the_ceiling_survives_parsing_evaluation_printing_and_dropping() {
    // The deepest query `--query.max-depth` can allow, in a thread with the stack the
    // collector gives its query threads; in a debug build, where frames are largest.
    let limits = QueryLimits {
        max_depth: MAX_DEPTH_CEILING,
        ..QueryLimits::default()
    };
    let opts = EvalOptions {
        limits,
        ..EvalOptions::default()
    };
    let run = move || {
        let mut store = MemStore::default();
        store.add(
            crate::tsdb::Labels::from_pairs([("__name__", "up"), ("job", "a")]),
            &[(0, 1.0), (60_000, 1.0)],
        );
        let mut checked = 0;
        for (what, _) in deep_queries(1) {
            // The largest n whose measure fits the ceiling.
            let (mut lo, mut hi) = (1usize, MAX_DEPTH_CEILING + 1);
            while lo + 1 < hi {
                let mid = (lo + hi) / 2;
                let q = &deep_queries(mid)
                    .into_iter()
                    .find(|(w, _)| *w == what)
                    .unwrap()
                    .1;
                if query_depth(q) <= MAX_DEPTH_CEILING {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let q = deep_queries(lo)
                .into_iter()
                .find(|(w, _)| *w == what)
                .unwrap()
                .1;
            let e = parse_with(&q, &limits).unwrap_or_else(|e| panic!("{what} at {lo}: {e:?}"));
            assert!(what.contains("numbers") || tree_depth(&e) >= lo, "{what}");
            let printed = e.to_string();
            assert!(!printed.is_empty());
            let r = instant_query_expr(&store, &e, 60_000, &opts);
            assert!(r.is_ok(), "{what} at {lo}: {r:?}");
            let r = range_query_expr(&store, &e, 0, 60_000, 30_000, &opts);
            assert!(
                r.is_ok() || matches!(r, Err(QueryError::BadData(_))),
                "{what} at {lo}: {r:?}"
            );
            drop(e);
            checked += 1;
        }
        checked
    };
    let n = std::thread::Builder::new()
        .stack_size(QUERY_THREAD_STACK)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(n, deep_queries(1).len());
}

#[test]
fn the_evaluator_refuses_a_deeper_tree_than_its_limit() {
    // A tree built without the text check (as a caller of `instant_query_expr` could)
    // meets the same limit in the evaluator.
    let q = format!("{}vector(1){}", "abs(".repeat(40), ")".repeat(40));
    let e = parse(&q).unwrap();
    let mut opts = EvalOptions::default();
    opts.limits.max_depth = 10;
    let r = instant_query_expr(&MemStore::default(), &e, 0, &opts);
    assert!(
        matches!(&r, Err(QueryError::Execution(m)) if m.contains("--query.max-depth")),
        "{r:?}"
    );
    opts.limits.max_depth = 64;
    assert!(instant_query_expr(&MemStore::default(), &e, 0, &opts).is_ok());
}

#[test]
fn long_queries_are_refused_with_the_flag_named() {
    let limits = QueryLimits {
        max_length: 1000,
        ..QueryLimits::default()
    };
    let q = format!("up{{job=~\"{}\"}}", "a|".repeat(600));
    let e = parse_with(&q, &limits).unwrap_err();
    assert!(
        matches!(&e, QueryError::BadData(m) if m.contains("--query.max-length (1000 bytes)")),
        "{e:?}"
    );
    assert!(parse_with("up", &limits).is_ok());
}

#[test]
fn real_queries_are_far_inside_the_default_depth() {
    // The mesh model, and Prometheus's own PromQL tests where the shared conformance data
    // is present.
    let mut deepest = ("", 0usize);
    let groups = crate::rules::mesh_model().unwrap();
    let mut exprs: Vec<String> = groups
        .iter()
        .flat_map(|g| g.rules.iter().map(|r| r.expr.clone()))
        .collect();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/promql");
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for f in rd.flatten() {
            let text = std::fs::read_to_string(f.path()).unwrap_or_default();
            for line in text.lines() {
                let l = line.trim_start();
                for p in [
                    "eval instant at ",
                    "eval_ordered instant at ",
                    "eval_fail instant at ",
                ] {
                    if let Some(rest) = l.strip_prefix(p) {
                        if let Some((_, q)) = rest.split_once(' ') {
                            exprs.push(q.to_string());
                        }
                    }
                }
            }
        }
    }
    assert!(exprs.len() > 20);
    let mut measures: Vec<(usize, String)> =
        exprs.iter().map(|q| (query_depth(q), q.clone())).collect();
    measures.sort();
    if let Some((d, q)) = measures.last() {
        deepest = ("", *d);
        eprintln!(
            "The deepest of {} real queries measures {d}: {q}",
            measures.len()
        );
        assert!(*d <= 32, "{d}: {q}");
    }
    assert!(deepest.1 * 8 <= DEFAULT_MAX_DEPTH, "{deepest:?}");
}
