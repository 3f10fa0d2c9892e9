use super::*;

fn load(text: &str) -> Result<Config, ConfigError> {
    load_str(
        text,
        Path::new("meshscope.yml"),
        Path::new("/etc/meshscope"),
    )
}

fn error(text: &str) -> String {
    load(text).unwrap_err().to_string()
}

#[test]
fn a_prometheus_file_loads_with_prometheus_defaults() {
    let c = load(
        r#"
global:
  scrape_interval: 15s
  external_labels:
    site: lab
rule_files:
  - rules/*.yml
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:9100']
        labels: {env: 1}
  - job_name: mesh
    scrape_interval: 5s
    metrics_path: /node/pulsar-0/metrics
    params:
      module: [http_2xx]
    honor_labels: true
    body_size_limit: 10MB
    sample_limit: 1000
    file_sd_configs:
      - files: [targets/*.json]
        refresh_interval: 1m
    relabel_configs:
      - source_labels: [__address__]
        target_label: instance
    metric_relabel_configs:
      - action: labeldrop
        regex: tmp_.*
    basic_auth:
      username: u
      password_file: secret.txt
remote_write:
  - url: http://mimir:9009/api/v1/push
    queue_config: {max_shards: 4}
"#,
    )
    .unwrap();
    assert_eq!(c.global.scrape_interval(), Duration(15_000));
    assert_eq!(c.global.scrape_timeout(), Duration(10_000));
    assert_eq!(c.global.evaluation_interval(), Duration(60_000));
    assert_eq!(c.global.external_labels["site"], "lab");
    let node = &c.scrape_configs[0];
    assert_eq!(node.interval(), Duration(15_000));
    assert_eq!(node.timeout(), Duration(10_000));
    assert_eq!(node.metrics_path, "/metrics");
    assert_eq!(node.scheme, "http");
    assert!(!node.honor_labels && node.honor_timestamps);
    assert_eq!(node.static_configs[0].labels["env"], "1");
    let mesh = &c.scrape_configs[1];
    // A timeout longer than the job's interval is cut to the interval.
    assert_eq!(mesh.timeout(), Duration(5_000));
    assert_eq!(mesh.body_size_limit, ByteSize(10 << 20));
    assert_eq!(mesh.file_sd_configs[0].refresh(), Duration(60_000));
    assert_eq!(mesh.params["module"], vec!["http_2xx".to_string()]);
    assert_eq!(
        c.resolve("secret.txt"),
        PathBuf::from("/etc/meshscope/secret.txt")
    );
    assert_eq!(c.referenced_files().len(), 1);
    assert_eq!(
        c.remote_write[0].queue_config.as_ref().unwrap().max_shards,
        Some(4)
    );
}

#[test]
fn empty_and_null_sections_are_accepted() {
    let c = load("").unwrap();
    assert!(c.scrape_configs.is_empty());
    let c = load("global:\nscrape_configs:\nrule_files:\n").unwrap();
    assert_eq!(c.global.scrape_interval(), Duration(60_000));
}

#[test]
fn unknown_keys_name_path_and_position() {
    let e = error("scrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n");
    assert!(
        e.starts_with("meshscope.yml:3:5: scrape_configs[0]: unknown field `scrape_intervall`"),
        "{e}"
    );
    let e = error("global:\n  foo: 1\n");
    assert!(
        e.starts_with("meshscope.yml:2:3: global: unknown field `foo`"),
        "{e}"
    );
}

#[test]
fn invalid_values_name_the_value_and_the_rule() {
    let e = error("global:\n  scrape_interval: 15\n");
    assert!(e.contains("meshscope.yml:2:"), "{e}");
    assert!(e.contains("global.scrape_interval"), "{e}");
    assert!(e.contains("invalid duration \"15\""), "{e}");
    let e = error("scrape_configs:\n  - job_name: a\n    body_size_limit: 10 apples\n");
    assert!(
        e.contains("scrape_configs[0].body_size_limit") && e.contains("invalid size"),
        "{e}"
    );
    let e = error("scrape_configs:\n  - job_name: a\n    sample_limit: -1\n");
    assert!(e.contains("scrape_configs[0].sample_limit"), "{e}");
    let e = error("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: hashmod\n        target_label: x\n");
    assert!(e.starts_with("meshscope.yml:4:17: scrape_configs[0].relabel_configs[0].action: relabel configuration for hashmod requires non-zero modulus"), "{e}");
}

#[test]
fn cross_field_rules_point_at_the_key() {
    let e = error(
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
    );
    assert!(
        e.starts_with("meshscope.yml:4:21: scrape_configs[0].scrape_timeout: scrape timeout 10s is greater than the scrape interval 5s"),
        "{e}"
    );
    let e = error("scrape_configs:\n  - job_name: a\n  - job_name: a\n");
    assert!(e.starts_with("meshscope.yml:3:15: scrape_configs[1].job_name: found multiple scrape configs with job name \"a\""), "{e}");
    let e = error("alerting:\n  alertmanagers:\n    - api_version: v1\n");
    assert!(
        e.starts_with("meshscope.yml:3:20: alerting.alertmanagers[0].api_version: \"v1\": only v2 is supported"),
        "{e}"
    );
    let e = error("alerting:\n  alertmanagers:\n    - scheme: ftp\n");
    assert!(
        e.starts_with(
            "meshscope.yml:3:15: alerting.alertmanagers[0].scheme: \"ftp\": must be http or https"
        ),
        "{e}"
    );
    let e = error("alerting:\n  alert_relabel_configs:\n    - action: hashmod\n");
    assert!(
        e.contains("alerting.alert_relabel_configs[0].action"),
        "{e}"
    );
    let e = error("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['http://x:1/metrics']\n");
    assert!(
        e.starts_with("meshscope.yml:4:19: scrape_configs[0].static_configs[0].targets[0]:"),
        "{e}"
    );
    let e = error(
        "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [targets.txt]\n",
    );
    assert!(e.contains("only .json, .yml and .yaml"), "{e}");
    let e = error("scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p}\n    bearer_token: t\n");
    assert!(e.contains("at most one of basic_auth"), "{e}");
    let e = error("scrape_configs:\n  - job_name: a\n    scheme: ftp\n");
    assert!(e.contains("invalid scheme \"ftp\""), "{e}");
    let e = error("global:\n  external_labels:\n    bad-name: x\n");
    assert!(
        e.contains("global.external_labels.bad-name") && e.contains("not a valid label name"),
        "{e}"
    );
}

#[test]
fn yaml_syntax_errors_have_positions() {
    let e = error("scrape_configs:\n  - job_name: [\n");
    assert!(e.starts_with("meshscope.yml:"), "{e}");
    assert!(load("scrape_configs:\n  - job_name: a\n   bad indent: 1\n").is_err());
}

#[test]
fn secrets_are_not_printed() {
    let c = load(
        "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: hunter2}\n",
    )
    .unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn byte_sizes() {
    assert_eq!(parse_bytes("0"), Ok(0));
    assert_eq!(parse_bytes("512B"), Ok(512));
    assert_eq!(parse_bytes("1KB"), Ok(1024));
    assert_eq!(parse_bytes("1KiB"), Ok(1024));
    assert_eq!(parse_bytes("3GB"), Ok(3 << 30));
    for bad in ["", "10", "MB", "1.5MB", "1 MB", "99999999999EB"] {
        assert!(parse_bytes(bad).is_err(), "{bad}");
    }
}

#[test]
fn shards_split_every_target_set_into_disjoint_complete_parts() {
    let text = "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['x:1']}]\n";
    let mut c = load(text).unwrap();
    assert!(c.shard(2, 2).unwrap_err().contains("0 <= I < N"));
    assert!(c.shard(0, 0).is_err());
    let mut shards: Vec<Config> = (0..3)
        .map(|i| {
            let mut c = load(text).unwrap();
            c.shard(i, 3).unwrap();
            c
        })
        .collect();
    assert_eq!(shards[0].scrape_configs[0].relabel_configs.len(), 2);
    // Targets at their own addresses, and targets sharing one address by their paths.
    let targets = (0..60)
        .map(|port| {
            (
                format!("10.0.0.{}:{}", port % 7, 9000 + port),
                "/metrics".to_string(),
            )
        })
        .chain((0..60).map(|n| ("127.0.0.1:9478".to_string(), format!("/node/n-{n}/metrics"))));
    let mut per_shard = [[0; 3]; 2];
    for (k, (addr, path)) in targets.enumerate() {
        let keeps: Vec<usize> = shards
            .iter_mut()
            .enumerate()
            .filter(|(_, c)| {
                let mut lb = crate::config::relabel::LabelMap::from([
                    ("__address__".to_string(), addr.clone()),
                    ("__metrics_path__".to_string(), path.clone()),
                ]);
                crate::config::relabel::process(&mut lb, &c.scrape_configs[0].relabel_configs)
            })
            .map(|(i, _)| i)
            .collect();
        assert_eq!(keeps.len(), 1, "{addr}{path} kept by shards {keeps:?}");
        per_shard[k / 60][keeps[0]] += 1;
    }
    assert!(per_shard.iter().flatten().all(|n| *n > 5), "{per_shard:?}");
}
