//! Recording rules and the mesh model: the collector evaluates the embedded model by
//! default, and a real Prometheus 2.42 scraping the same simulated mesh with the same
//! rule file yields the same model series.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::collect::{
    free_port, get, start_collector, start_mesh_collector, start_simulator_with, wait_for, Proc,
};
use super::meshscope;
use super::real::have;

pub fn rules_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("model/mesh.rules.yml")
}

fn required() -> bool {
    std::env::var("MESHSCOPE_REAL_COMPONENTS").as_deref() == Ok("required")
}

/// The label sets of the model series a server has now.
fn model_series(base: &str) -> BTreeSet<String> {
    let url = format!(
        "{base}/api/v1/query?query=%7B__name__%3D~%22(node%7Clink%7Cgroup)%3Amesh_.*%22%7D"
    );
    let Some((200, body)) = get(&url) else {
        return BTreeSet::new();
    };
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["data"]["result"]
        .as_array()
        .map(|a| a.iter().map(|r| r["metric"].to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn promtool_accepts_the_mesh_model_and_so_do_we() {
    let out = meshscope()
        .args(["check", "rules"])
        .arg(rules_file())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS: 47 rules found"));
    if !have("promtool") {
        assert!(
            !required(),
            "promtool is not installed, and scripts/test.sh should have installed it"
        );
        eprintln!("SKIPPED: promtool is not installed");
        return;
    }
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(rules_file())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // The model on what the real exporters emit, on the real engine (the collector's unit
    // test runs the same cases on ours).
    // The mesh's alerts fire on spikes and not on blips (model/tests/alerts.test.yml), on
    // our engine (`meshscope test rules`) and on promtool's.
    for file in ["tests/exporters.test.yml", "tests/alerts.test.yml"] {
        let cases = rules_file().with_file_name(file);
        let ours = meshscope()
            .args(["test", "rules"])
            .arg(&cases)
            .output()
            .unwrap();
        assert!(
            ours.status.success() && String::from_utf8_lossy(&ours.stdout).contains("SUCCESS"),
            "{file}: {}{}",
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&ours.stderr)
        );
        let out = Command::new("promtool")
            .args(["test", "rules"])
            .arg(&cases)
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("SUCCESS"),
            "{file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A broken rule file fails both, with the position.
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("bad.yml");
    std::fs::write(
        &bad,
        "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: rate(up)\n",
    )
    .unwrap();
    let out = meshscope()
        .args(["check", "rules"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bad.yml:5:") && text.contains("expr"),
        "{text}"
    );
}

#[test]
fn the_mesh_model_matches_a_real_prometheus_with_the_same_rules() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    // 24 nodes: every role, the three gRPC services, routers in a ring, VM hosts.
    let (_sim, _port, targets) = start_simulator_with(24, d.path(), &["--no-failures"]);
    let cfg = d.path().join("meshscope.yml");
    let scrape = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 15s\nscrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: ['{}']\n",
        targets.display()
    );
    std::fs::write(&cfg, &scrape).unwrap();
    let mp = free_port();
    let _ms = start_collector(&cfg, &d.path().join("ms"), mp, &d.path().join("ms.log"));
    let mb = format!("http://127.0.0.1:{mp}");

    let prom = have("prometheus");
    if !prom {
        assert!(
            !required(),
            "prometheus is not installed, and scripts/test.sh should have installed it"
        );
        eprintln!("SKIPPED (the comparison): prometheus is not installed");
    }
    let pp = free_port();
    let pb = format!("http://127.0.0.1:{pp}");
    let _prom = prom.then(|| {
        let pcfg = d.path().join("prometheus.yml");
        std::fs::write(
            &pcfg,
            format!("{scrape}rule_files:\n  - '{}'\n", rules_file().display()),
        )
        .unwrap();
        let log = std::fs::File::create(d.path().join("prometheus.log")).unwrap();
        Proc(
            Command::new("prometheus")
                .arg(format!("--config.file={}", pcfg.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    d.path().join("prom").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{pp}"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        )
    });

    // Every node gets its model series (messages for all but the 3 hosts and 3 routers);
    // wait for two rule evaluations (15 s apart).
    let nodes = 24;
    let messaging = 18;
    let start = Instant::now();
    let mut theirs = BTreeSet::new();
    let ours = loop {
        let ours = model_series(&mb);
        if prom {
            theirs = model_series(&pb);
        }
        let complete = |s: &BTreeSet<String>| {
            s.iter().filter(|m| m.contains("node:mesh_up:max")).count() == nodes
                && s.iter()
                    .filter(|m| m.contains("node:mesh_messages_in:rate1m"))
                    .count()
                    == messaging
        };
        if complete(&ours) && (!prom || ours == theirs) {
            break ours;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "model series did not settle:\nonly meshscope: {:?}\nonly Prometheus: {:?}",
            ours.difference(&theirs).collect::<Vec<_>>(),
            theirs.difference(&ours).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    // Each role's characteristic series are there.
    for (series, role) in [
        ("node:mesh_backlog:sum", "pulsar"),
        ("node:mesh_backlog:sum", "nats"),
        ("group:mesh_backlog:sum", "kafka"),
        ("group:mesh_consumed:rate1m", "pulsar"),
        ("node:mesh_errors:rate1m", "grpc"),
        ("node:mesh_errors:rate1m", "envoy"),
        ("node:mesh_latency_seconds:p99", "grpc"),
        ("node:mesh_latency_seconds:p50", "kafka"),
        ("node:mesh_bgp_peers_down:count", "router"),
        ("node:mesh_fabric_utilisation:ratio", "host"),
        ("link:mesh_messages:rate1m", "envoy"),
        ("link:mesh_messages:rate1m", "grpc"),
        ("link:mesh_bytes:rate1m", "grpc"),
        ("link:mesh_errors:rate1m", "envoy"),
        ("link:mesh_peer_up:min", "router"),
        ("node:mesh_service:info", "grpc"),
    ] {
        assert!(
            ours.iter()
                .any(|m| m.contains(series) && m.contains(&format!("\"role\":\"{role}\""))),
            "no {series} for role {role}"
        );
    }
    // The mesh model follows the scrapes (1 s) rather than its 15 s interval: a change a
    // scrape brings is in the model within about a second.
    std::thread::sleep(Duration::from_secs(6));
    for (expr, rule) in [
        (
            "min(count_over_time(node:mesh_up:max[5s]))",
            "evaluations of the model per node in the last 5 s",
        ),
        (
            "max(time() - timestamp(node:mesh_messages_in:rate1m))",
            "age of the newest model sample",
        ),
    ] {
        let (_, body) = get(&format!(
            "{mb}/api/v1/query?query={}",
            expr.replace(' ', "%20")
                .replace('[', "%5B")
                .replace(']', "%5D")
        ))
        .unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        let x: f64 = v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{expr}: {body}"));
        if expr.starts_with("min") {
            assert!(
                x >= 3.0,
                "{rule}: {x} (the model does not follow the scrapes)"
            );
        } else {
            assert!(
                x < 2.5,
                "{rule}: {x} s (the model does not follow the scrapes)"
            );
        }
    }
    // The rules API reports every group healthy.
    let (_, body) = get(&format!("{mb}/api/v1/rules")).unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    let groups = v["data"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 5, "{body}");
    for g in groups {
        for r in g["rules"].as_array().unwrap() {
            assert_eq!(r["health"], "ok", "{r}");
        }
    }
    let (c, body) = get(&format!("{mb}/api/v1/alerts")).unwrap();
    assert_eq!(c, 200);
    assert!(serde_json::from_str::<Value>(&body).unwrap()["data"]["alerts"].is_array());
    wait_for("the rule metrics", Duration::from_secs(5), || {
        get(&format!("{mb}/metrics"))
            .is_some_and(|(_, b)| b.contains("meshscope_rule_evaluations_total"))
    });
    // ... node by node: every scrape brought its node's model up to date.
    let (_, body) = get(&format!("{mb}/metrics")).unwrap();
    let nodes: f64 = body
        .lines()
        .find_map(|l| l.strip_prefix("meshscope_rule_node_evaluations_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no node evaluations in\n{body}"));
    assert!(nodes >= 12.0 * 6.0, "{nodes} node evaluations");
}

#[test]
fn alerting_rules_go_pending_then_firing_and_write_alerts() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let (_sim, _port, targets) = start_simulator_with(2, d.path(), &["--no-failures"]);
    let rules = d.path().join("alerts.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: a\n    interval: 1s\n    rules:\n      - alert: AlwaysOn\n        expr: up > 0\n        for: 3s\n        labels: {severity: page, who: '{{ $labels.node }}'}\n        annotations: {summary: '{{ $labels.node }} is up ({{ $value }})'}\n      - record: job:up:count\n        expr: count by (job) (up)\n",
    )
    .unwrap();
    let (_ms, port) = start_mesh_collector(d.path(), &targets, "rule_files: [alerts.yml]\n");
    let base = format!("http://127.0.0.1:{port}");
    // This file's alerts (the mesh model's own may be pending on the simulated mesh).
    let alerts = || -> Vec<Value> {
        get(&format!("{base}/api/v1/alerts"))
            .and_then(|(_, b)| serde_json::from_str::<Value>(&b).ok())
            .and_then(|v| v["data"]["alerts"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["labels"]["alertname"] == "AlwaysOn")
            .collect()
    };
    wait_for("pending alerts", Duration::from_secs(20), || {
        let a = alerts();
        a.len() == 2 && a.iter().all(|x| x["state"] == "pending")
    });
    wait_for("firing alerts", Duration::from_secs(20), || {
        let a = alerts();
        a.len() == 2 && a.iter().all(|x| x["state"] == "firing")
    });
    let a = alerts();
    assert!(a.iter().any(|x| x["labels"]["who"] == "pulsar-0"
        && x["labels"]["alertname"] == "AlwaysOn"
        && x["annotations"]["summary"] == "pulsar-0 is up (1)"));
    // A reload keeps alert state: still firing, not pending again for 3 s.
    let r = reqwest::blocking::Client::new()
        .post(format!("{base}/-/reload"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    for _ in 0..3 {
        let a = alerts();
        assert!(
            a.len() == 2 && a.iter().all(|x| x["state"] == "firing"),
            "{a:?}"
        );
        std::thread::sleep(Duration::from_millis(700));
    }
    // ALERTS series and the recording rule are in the store.
    wait_for(
        "ALERTS and the recorded series",
        Duration::from_secs(10),
        || {
            let q = |e: &str| {
                get(&format!("{base}/api/v1/query?query={e}"))
                    .and_then(|(_, b)| serde_json::from_str::<Value>(&b).ok())
                    .and_then(|v| v["data"]["result"].as_array().map(|a| a.len()))
                    .unwrap_or(0)
            };
            q("ALERTS%7Balertstate%3D%22firing%22%2Calertname%3D%22AlwaysOn%22%7D") == 2
                && q("job%3Aup%3Acount") == 1
        },
    );
}

#[test]
fn backfilled_rules_equal_the_expressions_evaluated_directly() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let st = meshscope()
        .args([
            "simulate",
            "--nodes",
            "9",
            "--history",
            "3h",
            "--history-step",
            "15s",
        ])
        .arg("--storage.tsdb.path")
        .arg(&data)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let out = meshscope()
        .args(["tsdb", "backfill-rules", "--start"])
        .arg((now - 3 * 3600).to_string())
        .arg("--end")
        .arg(now.to_string())
        .arg("--storage.tsdb.path")
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Backfilled 31 recording rules (16 alerting rules skipped)"),
        "{text}"
    );
    let cfg = d.path().join("meshscope.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n").unwrap();
    let port = free_port();
    let p = meshscope()
        .args(["collect", "--rules.mesh-model=false", "--config.file"])
        .arg(&cfg)
        .arg("--storage.tsdb.path")
        .arg(&data)
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _p = Proc(p);
    let base = format!("http://127.0.0.1:{port}");
    wait_for("the collector", Duration::from_secs(30), || {
        get(&format!("{base}/-/ready")).is_some_and(|(c, _)| c == 200)
    });
    // At an evaluation time (a multiple of the groups' 15 s), the recorded series and
    // its expression agree exactly, for every node.
    let t = (now - 3600) / 15 * 15;
    let rules = meshscope_collector::rules::mesh_model().unwrap();
    let mut compared = 0;
    for r in rules.iter().flat_map(|g| g.rules.iter()) {
        if r.kind != meshscope_collector::rules::RuleKind::Recording {
            continue;
        }
        let q = |e: &str| -> BTreeSet<String> {
            let c = reqwest::blocking::Client::new();
            let body = c
                .post(format!("{base}/api/v1/query"))
                .form(&[("query", e), ("time", &t.to_string())])
                .send()
                .unwrap()
                .text()
                .unwrap();
            let v: Value = serde_json::from_str(&body).unwrap();
            v["data"]["result"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| {
                    let mut m = s["metric"].clone();
                    if let Some(o) = m.as_object_mut() {
                        o.remove("__name__");
                    }
                    // An instant vector, or the raw samples of `name[1s]`: only a sample
                    // written at `t` itself counts (the lookback would otherwise carry
                    // an earlier point of a series the expression no longer yields).
                    let value = match s.get("values") {
                        Some(vs) => vs
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|p| p[0].as_i64() == Some(t))
                            .map(|p| p[1].clone())?,
                        None => s["value"][1].clone(),
                    };
                    Some(format!("{m} {value}"))
                })
                .collect()
        };
        let recorded = q(&format!("{}[1s]", r.name));
        let direct = q(&r.expr);
        assert_eq!(recorded, direct, "{}", r.name);
        compared += recorded.len();
    }
    assert!(compared > 100, "only {compared} series compared");
}

#[test]
fn rule_files_reload_with_the_configuration_and_a_bad_one_is_refused() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let rules = d.path().join("r.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: one\n    rules:\n      - record: a:up:sum\n        expr: sum(up)\n",
    )
    .unwrap();
    let cfg = d.path().join("meshscope.yml");
    std::fs::write(
        &cfg,
        "global:\n  scrape_interval: 15s\nrule_files: ['r.yml']\n",
    )
    .unwrap();
    let port = free_port();
    let _c = start_collector(&cfg, &d.path().join("data"), port, &d.path().join("c.log"));
    let base = format!("http://127.0.0.1:{port}");
    let groups = || -> Vec<String> {
        get(&format!("{base}/api/v1/rules?type=record"))
            .and_then(|(_, b)| serde_json::from_str::<Value>(&b).ok())
            .map(|v| {
                v["data"]["groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|g| g["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    wait_for("the rule group", Duration::from_secs(20), || {
        groups().contains(&"one".to_string())
    });
    let reload = || {
        reqwest::blocking::Client::new()
            .post(format!("{base}/-/reload"))
            .send()
            .unwrap()
    };
    std::fs::write(
        &rules,
        "groups:\n  - name: two\n    rules:\n      - record: b:up:sum\n        expr: sum(up)\n",
    )
    .unwrap();
    assert_eq!(reload().status().as_u16(), 200);
    let g = groups();
    assert!(
        g.contains(&"two".to_string()) && !g.contains(&"one".to_string()),
        "{g:?}"
    );
    std::fs::write(
        &rules,
        "groups:\n  - name: three\n    rules:\n      - record: c\n        expr: sum(up\n",
    )
    .unwrap();
    let r = reload();
    assert_eq!(r.status().as_u16(), 500);
    assert!(
        r.text().unwrap().contains("r.yml:5:"),
        "the reason names the file and line"
    );
    assert!(
        groups().contains(&"two".to_string()),
        "the running rules stay"
    );
}

/// The collector brings only the scraped nodes' model up to date after a scrape
/// (`rules::partition`). On a simulated mesh with links, a node that fails and recovers
/// and a node whose counters restart, evaluating the model node by node (in batches of
/// several nodes and of one, as scrapes arrive) writes exactly the series and samples,
/// staleness markers included, that evaluating the whole mesh writes.
#[test]
fn the_per_node_model_equals_the_full_evaluation() {
    use meshscope_collector::promql::EvalOptions;
    use meshscope_collector::rules::{mesh_model, RuleManager};
    use meshscope_collector::tsdb::{Db, Labels, MatchOp, Matcher, Options, Queryable};
    use meshscope_simulate::{Integrator, Mesh};
    use std::collections::HashMap;

    const STEP: i64 = 15_000;
    let origin = 1_700_000_000_000i64;
    let mesh = Mesh::new(48, 7, origin);
    // The flaky node is down from 20 to 24 minutes after the origin; grpc-0, whose
    // channel links to payments, restarts (every counter from zero) at 23 minutes.
    let (start, end, restart) = (
        origin + 15 * 60_000,
        origin + 30 * 60_000,
        origin + 23 * 60_000,
    );
    let restarting = "grpc-0";
    let integrators: Vec<Integrator> = (0..mesh.nodes.len())
        .map(|i| Integrator::new(&mesh, i, end))
        .collect();
    let d = tempfile::tempdir().unwrap();
    let dbs = [
        std::sync::Arc::new(Db::open(&d.path().join("full"), Options::default()).unwrap()),
        std::sync::Arc::new(Db::open(&d.path().join("nodes"), Options::default()).unwrap()),
    ];
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let managers: Vec<_> = dbs
        .iter()
        .map(|db| {
            let m = RuleManager::new(db.clone(), EvalOptions::default(), stop.clone());
            let _g = rt.enter();
            m.apply(mesh_model().unwrap(), STEP);
            m
        })
        .collect();
    // Only the evaluations below write: the groups' own schedules stop at once.
    stop.cancel();

    let names: Vec<String> = mesh.nodes.iter().map(|n| n.name.clone()).collect();
    // Batches as scrapes would bring them: several nodes, and one alone.
    let batches: Vec<Vec<&str>> = vec![
        names[..20].iter().map(String::as_str).collect(),
        vec![names[20].as_str()],
        names[21..].iter().map(String::as_str).collect(),
    ];
    let mut at_restart: HashMap<String, f64> = HashMap::new();
    let mut t = start;
    while t <= end {
        for db in &dbs {
            let mut app = db.appender();
            meshscope_simulate::snapshot(&mesh, &integrators, t, |name, labels, mut v| {
                let counter = ["_total", "_count", "_sum", "_bucket"]
                    .iter()
                    .any(|s| name.ends_with(s));
                let key = format!("{name}{labels:?}");
                if counter
                    && t >= restart
                    && labels.iter().any(|(k, v)| *k == "node" && v == restarting)
                {
                    v -= *at_restart.entry(key).or_insert(v);
                }
                let l = Labels::from_pairs(
                    std::iter::once(("__name__", name))
                        .chain(labels.iter().map(|(k, v)| (*k, v.as_str()))),
                );
                let h = app.series(&l);
                app.add(&h, t, v);
            });
            app.commit().unwrap();
        }
        if t >= start + 2 * 60_000 {
            managers[0].evaluate_all_at(t);
            for b in &batches {
                managers[1].evaluate_nodes_at(t, b);
            }
        }
        t += STEP;
    }

    let model = Matcher::new(MatchOp::Regex, "__name__", "(node|link|group):mesh_.*").unwrap();
    let read = |db: &Db| -> Vec<(String, Vec<(i64, u64)>)> {
        db.select(std::slice::from_ref(&model), start, end)
            .iter()
            .map(|s| {
                let samples = s
                    .samples(start, end)
                    .map(|(t, v)| (t, v.to_bits()))
                    .collect();
                (s.labels.to_string(), samples)
            })
            .collect()
    };
    let (full, per_node) = (read(&dbs[0]), read(&dbs[1]));
    assert!(full.len() > 400, "{} model series", full.len());
    // The cases the test is for are in the data.
    for want in [
        "link:mesh_messages:rate1m",
        "link:mesh_peer_up:min",
        "group:mesh_backlog:sum",
    ] {
        assert!(full.iter().any(|(l, _)| l.starts_with(want)), "no {want}");
    }
    let stale = full
        .iter()
        .filter(|(_, s)| {
            s.iter()
                .any(|(_, v)| meshscope_collector::tsdb::chunk::is_stale_nan(f64::from_bits(*v)))
        })
        .count();
    assert!(stale > 0, "the flaky node's model went stale");
    let full_names: Vec<&String> = full.iter().map(|(l, _)| l).collect();
    let node_names: Vec<&String> = per_node.iter().map(|(l, _)| l).collect();
    assert_eq!(full_names, node_names, "the same model series");
    for ((l, a), (_, b)) in full.iter().zip(&per_node) {
        assert_eq!(a, b, "{l}: the same samples");
    }
}
