//! The lab: real components with known induced traffic, scraped by the collector and by
//! a real Prometheus 2.42 with the same mesh model, checked against what the traffic
//! was. DESIGN.md lists the components; `scripts/test.sh` installs them.
//!
//! | node       | role     | service  | component                                         |
//! |------------|----------|----------|---------------------------------------------------|
//! | envoy-0    | envoy    | web      | Envoy sidecar: egress cluster `orders` → envoy-1   |
//! | envoy-1    | envoy    | orders   | Envoy sidecar: ingress with a header fault filter |
//! | grpc-0     | grpc     | payments | Python gRPC server, py-grpc-prometheus            |
//! | grpc-1     | grpc     | billing  | Python gRPC client, gRPC's OpenTelemetry plugin   |
//! | nats-0     | nats     |          | nats-server, read by `meshscope exporter nats`    |
//! | rabbitmq-0 | rabbitmq |          | RabbitMQ 3.10 with its Prometheus plugin, pika    |
//! | host-0     | host     |          | node_exporter                                     |
//! | router-0/1 | router   |          | FRR 8.4 (zebra, bgpd) in a network namespace each, |
//! |            |          |          | eBGP with EVPN over a veth pair; frr_exporter      |
//!
//! The traffic (tests/lab/lab.py): 20 HTTP requests/s from web to orders through both
//! sidecars, every 10th aborted 503 by orders' sidecar; 10 gRPC calls/s from billing to
//! payments (`payments.localhost:PORT`), every 5th failing UNAVAILABLE; 20 NATS
//! messages/s published and each delivered to one subscriber, and 500 messages waiting
//! in a JetStream stream for a consumer that never fetches; 10 RabbitMQ messages/s
//! published and consumed, 2/s of them rejected and dead-lettered, and 300 waiting in a
//! queue nobody consumes; one BGP session, IPv4 and EVPN, with one L2 VNI whose four
//! MACs (a host port and a static MAC behind each router) both routers learn.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::collect::{free_port, get, start_collector, wait_for, Proc};
use super::meshscope;
use super::real::{available, start_rabbitmq, RABBITMQ_METRICS};
use super::remote::query;

/// The relative error allowed on an induced rate.
const TOLERANCE: f64 = 0.05;

fn lab_py() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.py")
}

/// Python modules the lab's traffic needs (PyPI, installed by scripts/test.sh).
const PY_MODULES: &str =
    "grpc, py_grpc_prometheus, grpc_observability, opentelemetry.exporter.prometheus, nats, pika";

fn python_ready() -> bool {
    PY_MODULES.split(", ").all(super::report::python_has)
}

/// Start `cmd` with its output in `dir/<name>.log` and wait until it prints `ready`.
fn start_ready(dir: &Path, name: &str, cmd: &mut Command) -> Proc {
    let log = dir.join(format!("{name}.log"));
    let f = std::fs::File::create(&log).unwrap();
    let p = Proc(
        cmd.stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap(),
    );
    wait_for(name, Duration::from_secs(60), || {
        std::fs::read_to_string(&log).is_ok_and(|s| s.contains("ready"))
    });
    p
}

fn lab(dir: &Path, name: &str, args: &[&str]) -> Proc {
    start_ready(dir, name, Command::new("python3").arg(lab_py()).args(args))
}

/// An Envoy sidecar: `ingress_http` on `ingress` to the app on `app` (through the header
/// fault filter), and, when given, `egress_http` on a port to one upstream cluster.
fn envoy_config(admin: u16, ingress: u16, app: u16, egress: Option<(u16, &str, u16)>) -> String {
    let hcm = |prefix: &str, cluster: &str, fault: bool| {
        let fault = if fault {
            "
          - name: envoy.filters.http.fault
            typed_config:
              \"@type\": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault
              abort: {header_abort: {}, percentage: {numerator: 100}}"
        } else {
            ""
        };
        format!(
            "
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: {prefix}
          route_config:
            virtual_hosts:
            - {{name: all, domains: [\"*\"], routes: [{{match: {{prefix: \"/\"}}, route: {{cluster: {cluster}}}}}]}}
          http_filters:{fault}
          - name: envoy.filters.http.router
            typed_config: {{\"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}"
        )
    };
    let cluster = |name: &str, port: u16| {
        format!(
            "
  - name: {name}
    type: STATIC
    load_assignment: {{cluster_name: {name}, endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}}}}}]}}]}}"
        )
    };
    let mut s = format!(
        "admin:\n  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}\nstatic_resources:\n  listeners:\n  - name: ingress\n    address: {{socket_address: {{address: 127.0.0.1, port_value: {ingress}}}}}{}",
        hcm("ingress_http", "local_app", true)
    );
    if let Some((port, name, _)) = egress {
        s += &format!(
            "\n  - name: egress\n    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}{}",
            hcm("egress_http", name, false)
        );
    }
    s += "\n  clusters:";
    s += &cluster("local_app", app);
    if let Some((_, name, up)) = egress {
        s += &cluster(name, up);
    }
    s + "\n"
}

fn envoy(dir: &Path, name: &str, config: &str) -> Proc {
    let f = dir.join(format!("{name}.yaml"));
    std::fs::write(&f, config).unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Proc(
        Command::new("envoy")
            .arg("-c")
            .arg(&f)
            .args(["--disable-hot-restart", "--log-level", "warn"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Two FRR routers in their own network namespaces, joined by a veth pair, peering by
/// eBGP for IPv4 unicast and L2VPN EVPN with one L2 VNI (a VXLAN in a bridge, with a
/// static MAC behind each router): zebra and bgpd per router, frr_exporter per router in
/// the root namespace reading that router's daemon sockets. Namespaces are removed when
/// dropped.
struct Fabric {
    netns: [String; 2],
    dirs: [PathBuf; 2],
    _procs: Vec<Proc>,
    /// Each router's frr_exporter, host:port.
    exporters: [String; 2],
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Fabric {
    fn start(dir: &Path) -> Fabric {
        let tag = std::process::id() % 100_000;
        let netns = [format!("msl{tag}-0"), format!("msl{tag}-1")];
        let addr = ["10.99.0.1", "10.99.0.2"];
        for ns in &netns {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&[
            "link", "add", "fab0", "netns", &netns[0], "type", "veth", "peer", "name", "fab1",
            "netns", &netns[1],
        ]);
        // bgpd and zebra drop to the frr user: it must reach their directories.
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let mut procs = Vec::new();
        let mut dirs = Vec::new();
        let mut exporters = Vec::new();
        for i in 0..2 {
            let (ns, a, peer) = (&netns[i], addr[i], addr[1 - i]);
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{a}/30"),
                "dev",
                &format!("fab{i}"),
            ]);
            ip(&["-n", ns, "link", "set", &format!("fab{i}"), "up"]);
            // The L2 VNI: a bridge with a VXLAN and a host port with one static MAC.
            ip(&["-n", ns, "link", "add", "br100", "type", "bridge"]);
            ip(&["-n", ns, "link", "set", "br100", "up"]);
            ip(&[
                "-n",
                ns,
                "link",
                "add",
                "vxlan100",
                "type",
                "vxlan",
                "id",
                "10100",
                "local",
                a,
                "dstport",
                "4789",
                "nolearning",
            ]);
            ip(&[
                "-n", ns, "link", "add", "h0", "type", "veth", "peer", "name", "h0p",
            ]);
            for l in ["vxlan100", "h0"] {
                ip(&["-n", ns, "link", "set", l, "master", "br100"]);
                ip(&["-n", ns, "link", "set", l, "up"]);
            }
            ip(&["-n", ns, "link", "set", "h0p", "up"]);
            let o = Command::new("ip")
                .args(["netns", "exec", ns, "bridge", "fdb", "add"])
                .arg(format!("02:00:00:00:0{i}:01"))
                .args(["dev", "h0", "master", "static"])
                .output()
                .unwrap();
            assert!(o.status.success(), "bridge fdb add: {o:?}");

            let rd = dir.join(format!("router-{i}"));
            std::fs::create_dir_all(&rd).unwrap();
            std::fs::write(
                rd.join("frr.conf"),
                format!(
                    "hostname router-{i}\nrouter bgp {las}\n bgp router-id {a}\n no bgp ebgp-requires-policy\n timers bgp 1 3\n neighbor {peer} remote-as {pas}\n neighbor {peer} description router-{j}\n address-family l2vpn evpn\n  neighbor {peer} activate\n  advertise-all-vni\n exit-address-family\n",
                    las = 65000 + i,
                    pas = 65001 - i,
                    j = 1 - i
                ),
            )
            .unwrap();
            let st = Command::new("chown")
                .args(["-R", "frr:frr"])
                .arg(&rd)
                .status()
                .unwrap();
            assert!(st.success());
            let daemon = |name: &str, conf: &Path| {
                let log = std::fs::File::create(rd.join(format!("{name}.log"))).unwrap();
                Proc(
                    Command::new("ip")
                        .args(["netns", "exec", ns])
                        .arg(format!("/usr/lib/frr/{name}"))
                        .arg("-z")
                        .arg(rd.join("zserv.api"))
                        .arg("-i")
                        .arg(rd.join(format!("{name}.pid")))
                        .arg("--vty_socket")
                        .arg(&rd)
                        .args(["-A", "127.0.0.1", "-P", "0", "-f"])
                        .arg(conf)
                        .stdout(Stdio::null())
                        .stderr(log)
                        .spawn()
                        .unwrap(),
                )
            };
            procs.push(daemon("zebra", Path::new("/dev/null")));
            wait_for("zebra", Duration::from_secs(30), || {
                rd.join("zserv.api").exists()
            });
            procs.push(daemon("bgpd", &rd.join("frr.conf")));
            wait_for("bgpd", Duration::from_secs(30), || {
                rd.join("bgpd.vty").exists()
            });
            let port = free_port();
            procs.push(Proc(
                Command::new("prometheus-frr-exporter")
                    .arg(format!("--frr.socket.dir-path={}", rd.display()))
                    .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                    .args([
                        "--collector.bgp.peer-descriptions",
                        "--collector.bgp.peer-descriptions.plain-text",
                        "--collector.bgpl2vpn",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            ));
            exporters.push(format!("127.0.0.1:{port}"));
            dirs.push(rd);
        }
        Fabric {
            netns,
            dirs: [dirs[0].clone(), dirs[1].clone()],
            _procs: procs,
            exporters: [exporters[0].clone(), exporters[1].clone()],
        }
    }

    /// Router `i` shuts its BGP session down (`neighbor … shutdown`), or with `up`
    /// brings it back (`no neighbor … shutdown`).
    fn shut_session(&self, i: usize, up: bool) {
        let peer = ["10.99.0.2", "10.99.0.1"][i];
        let no = if up { "no " } else { "" };
        let o = Command::new("vtysh")
            .arg("--vty_socket")
            .arg(&self.dirs[i])
            .args(["-c", "configure terminal"])
            .args(["-c", &format!("router bgp {}", 65000 + i)])
            .args(["-c", &format!("{no}neighbor {peer} shutdown")])
            .output()
            .unwrap();
        assert!(o.status.success(), "vtysh: {o:?}");
    }
}

impl Drop for Fabric {
    fn drop(&mut self) {
        for ns in &self.netns {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// One scrape target of the lab: node, role, service, host:port, metrics path.
struct Target {
    node: &'static str,
    role: &'static str,
    service: &'static str,
    addr: String,
    path: &'static str,
}

/// The lab's components, stopped when dropped.
struct Lab {
    procs: BTreeMap<&'static str, Proc>,
    fabric: Fabric,
    _rabbit: super::real::Rabbit,
    targets: Vec<Target>,
}

impl Lab {
    fn start(dir: &Path) -> Lab {
        let mut procs = BTreeMap::new();
        let mut targets = Vec::new();
        let mut t = |node, role, service, addr: String, path| {
            targets.push(Target {
                node,
                role,
                service,
                addr,
                path,
            })
        };

        // Envoy: web's sidecar calls orders' sidecar, which fronts the orders app.
        let (a0, a1) = (free_port(), free_port());
        let (in0, in1, out0) = (free_port(), free_port(), free_port());
        let (app0, app1) = (free_port(), free_port());
        procs.insert(
            "app-web",
            lab(dir, "app-web", &["http-app", "--port", &app0.to_string()]),
        );
        procs.insert(
            "app-orders",
            lab(
                dir,
                "app-orders",
                &["http-app", "--port", &app1.to_string()],
            ),
        );
        procs.insert(
            "envoy-0",
            envoy(
                dir,
                "envoy-0",
                &envoy_config(a0, in0, app0, Some((out0, "orders", in1))),
            ),
        );
        procs.insert(
            "envoy-1",
            envoy(dir, "envoy-1", &envoy_config(a1, in1, app1, None)),
        );
        for a in [a0, a1] {
            wait_for("Envoy's admin", Duration::from_secs(60), || {
                get(&format!("http://127.0.0.1:{a}/ready")).is_some_and(|(c, _)| c == 200)
            });
        }
        t(
            "envoy-0",
            "envoy",
            "web",
            format!("127.0.0.1:{a0}"),
            "/stats/prometheus",
        );
        t(
            "envoy-1",
            "envoy",
            "orders",
            format!("127.0.0.1:{a1}"),
            "/stats/prometheus",
        );

        // gRPC: billing's client calls payments' server by a service name.
        let (g, gm, cm) = (free_port(), free_port(), free_port());
        procs.insert(
            "grpc-0",
            lab(
                dir,
                "grpc-0",
                &[
                    "grpc-server",
                    "--port",
                    &g.to_string(),
                    "--metrics-port",
                    &gm.to_string(),
                    "--service",
                    "mesh.Payments",
                    "--fail-every",
                    "5",
                ],
            ),
        );
        t(
            "grpc-0",
            "grpc",
            "payments",
            format!("127.0.0.1:{gm}"),
            "/metrics",
        );
        t(
            "grpc-1",
            "grpc",
            "billing",
            format!("127.0.0.1:{cm}"),
            "/metrics",
        );

        // NATS with JetStream, and our prometheus-nats-exporter.
        let (np, nm, ne) = (free_port(), free_port(), free_port());
        let store = dir.join("nats-js");
        let log = std::fs::File::create(dir.join("nats-server.log")).unwrap();
        procs.insert(
            "nats-server",
            Proc(
                Command::new("nats-server")
                    .args([
                        "-a",
                        "127.0.0.1",
                        "-p",
                        &np.to_string(),
                        "-m",
                        &nm.to_string(),
                    ])
                    .args(["-js", "-n", "nats-0", "-sd"])
                    .arg(&store)
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .unwrap(),
            ),
        );
        wait_for("NATS monitoring", Duration::from_secs(30), || {
            get(&format!("http://127.0.0.1:{nm}/varz")).is_some_and(|(c, _)| c == 200)
        });
        let log = std::fs::File::create(dir.join("exporter-nats.log")).unwrap();
        procs.insert(
            "exporter-nats",
            Proc(
                meshscope()
                    .args([
                        "exporter",
                        "nats",
                        "--url",
                        &format!("http://127.0.0.1:{nm}"),
                    ])
                    .args(["--listen", &format!("127.0.0.1:{ne}")])
                    .stderr(log)
                    .spawn()
                    .unwrap(),
            ),
        );
        t("nats-0", "nats", "", format!("127.0.0.1:{ne}"), "/metrics");

        // RabbitMQ and node_exporter.
        let rabbit = start_rabbitmq();
        t(
            "rabbitmq-0",
            "rabbitmq",
            "",
            RABBITMQ_METRICS.to_string(),
            "/metrics",
        );
        let hp = free_port();
        procs.insert(
            "host-0",
            Proc(
                Command::new("prometheus-node-exporter")
                    .arg(format!("--web.listen-address=127.0.0.1:{hp}"))
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            ),
        );
        t("host-0", "host", "", format!("127.0.0.1:{hp}"), "/metrics");

        // The fabric: two routers peering.
        let fabric = Fabric::start(dir);
        t(
            "router-0",
            "router",
            "",
            fabric.exporters[0].clone(),
            "/metrics",
        );
        t(
            "router-1",
            "router",
            "",
            fabric.exporters[1].clone(),
            "/metrics",
        );

        // The traffic, last, so that every component counts all of it.
        procs.insert(
            "load-http",
            lab(
                dir,
                "load-http",
                &[
                    "http-load",
                    "--url",
                    &format!("http://127.0.0.1:{out0}/order"),
                    "--rate",
                    "20",
                    "--fail-every",
                    "10",
                ],
            ),
        );
        procs.insert(
            "grpc-1",
            lab(
                dir,
                "grpc-1",
                &[
                    "grpc-client",
                    "--target",
                    &format!("payments.localhost:{g}"),
                    "--metrics-port",
                    &cm.to_string(),
                    "--service",
                    "mesh.Payments",
                    "--rate",
                    "10",
                ],
            ),
        );
        procs.insert(
            "load-nats",
            lab(
                dir,
                "load-nats",
                &[
                    "nats-load",
                    "--url",
                    &format!("nats://127.0.0.1:{np}"),
                    "--rate",
                    "20",
                    "--backlog",
                    "500",
                ],
            ),
        );
        procs.insert(
            "load-rabbit",
            lab(
                dir,
                "load-rabbit",
                &[
                    "rabbit-load",
                    "--rate",
                    "10",
                    "--backlog",
                    "300",
                    "--reject-rate",
                    "2",
                ],
            ),
        );
        Lab {
            procs,
            fabric,
            _rabbit: rabbit,
            targets,
        }
    }

    /// A scrape configuration for the lab (each node's labels on its target).
    fn scrape_configs(&self) -> String {
        let mut s = String::from("scrape_configs:\n");
        for t in &self.targets {
            s += &format!(
                "  - job_name: {}\n    metrics_path: {}\n    static_configs:\n      - targets: ['{}']\n        labels: {{node: {}, role: {}{}}}\n",
                t.node,
                t.path,
                t.addr,
                t.node,
                t.role,
                if t.service.is_empty() {
                    String::new()
                } else {
                    format!(", service: {}", t.service)
                }
            );
        }
        s
    }

    fn stop(&mut self, name: &str) {
        drop(self.procs.remove(name));
    }
}

/// A model series' value for one node (`None`: no such series).
fn node_value(base: &str, record: &str, node: &str) -> Option<f64> {
    let r = query(base, &format!("{record}{{node=\"{node}\"}}"), None);
    assert!(r.len() <= 1, "{record} for {node}: {r:?}");
    r.first().map(|(_, v)| *v)
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= TOLERANCE * want.abs()
}

/// What the lab's traffic makes of the model: (record, node, expected value). Rates are
/// per second.
const EXPECTED: &[(&str, &str, f64)] = &[
    // Orders' sidecar receives 20 requests/s, 2 of them answered 503 by its fault filter.
    ("node:mesh_messages_in:rate1m", "envoy-1", 20.0),
    ("node:mesh_errors:rate1m", "envoy-1", 2.0),
    // Web's sidecar sends them on, through its `orders` cluster.
    ("node:mesh_messages_out:rate1m", "envoy-0", 20.0),
    // Payments' server: 10 calls/s started, 8 OK, 2 UNAVAILABLE, none in flight.
    ("node:mesh_messages_in:rate1m", "grpc-0", 10.0),
    ("node:mesh_messages_out:rate1m", "grpc-0", 8.0),
    ("node:mesh_errors:rate1m", "grpc-0", 2.0),
    // NATS: 20 messages/s in, each delivered once; 500 waiting for JetStream's consumer.
    ("node:mesh_messages_in:rate1m", "nats-0", 20.0),
    ("node:mesh_messages_out:rate1m", "nats-0", 20.0),
    ("node:mesh_backlog:sum", "nats-0", 500.0),
    // RabbitMQ: 10 messages/s published, 2/s rejected and dead-lettered, 300 ready.
    // Delivered: the 10, and the 2 dead letters again from the dead-letter queue.
    ("node:mesh_messages_in:rate1m", "rabbitmq-0", 10.0),
    ("node:mesh_messages_out:rate1m", "rabbitmq-0", 12.0),
    ("node:mesh_errors:rate1m", "rabbitmq-0", 2.0),
    ("node:mesh_backlog:sum", "rabbitmq-0", 300.0),
    // The routers: their session up in both address families, one remote VTEP each,
    // and the VNI's four MACs (each router's host port and static MAC, both sides).
    ("node:mesh_bgp_peers_down:count", "router-0", 0.0),
    ("node:mesh_bgp_peers_down:count", "router-1", 0.0),
    ("node:mesh_evpn_remote_vteps:sum", "router-0", 1.0),
    ("node:mesh_evpn_remote_vteps:sum", "router-1", 1.0),
    ("node:mesh_evpn_macs:sum", "router-0", 4.0),
    ("node:mesh_evpn_macs:sum", "router-1", 4.0),
];

/// The BGP sessions, each seen from both ends: (src_node, dst_node).
const PEERS: &[(&str, &str)] = &[("router-0", "router-1"), ("router-1", "router-0")];

/// The fabric's links, each (src_node, dst_node) with its `link:mesh_peer_up:min`.
fn peer_links(base: &str) -> BTreeMap<(String, String), f64> {
    query(base, "link:mesh_peer_up:min", None)
        .into_iter()
        .map(|(l, v)| ((l["src_node"].clone(), l["dst_node"].clone()), v))
        .collect()
}

/// The links the lab has, and no other: (src_node, dst_service, messages/s, errors/s,
/// the service's one instance).
const LINKS: &[(&str, &str, f64, f64, &str)] = &[
    ("envoy-0", "orders", 20.0, 2.0, "envoy-1"),
    ("grpc-1", "payments", 10.0, 2.0, "grpc-0"),
];

/// Everything the model should say about the lab, as one list of failures (empty: all
/// agree).
fn disagreements(base: &str, nodes: &[&str]) -> Vec<String> {
    let mut bad = Vec::new();
    for n in nodes {
        if node_value(base, "node:mesh_up:max", n) != Some(1.0) {
            bad.push(format!("{n} is not up"));
        }
    }
    for (record, node, want) in EXPECTED {
        match node_value(base, record, node) {
            Some(v) if close(v, *want) => {}
            got => bad.push(format!("{record}{{node={node}}}: {got:?}, want {want}")),
        }
    }
    // Latency from the gRPC server's handling-time histogram: its handler sleeps 2 ms.
    match node_value(base, "node:mesh_latency_seconds:p50", "grpc-0") {
        Some(v) if (0.001..0.1).contains(&v) => {}
        got => bad.push(format!("p50 latency of grpc-0: {got:?}")),
    }
    let links: BTreeMap<(String, String), f64> = query(base, "link:mesh_messages:rate1m", None)
        .into_iter()
        .map(|(l, v)| {
            let dst = l
                .get("dst_node")
                .or(l.get("dst_service"))
                .cloned()
                .unwrap_or_default();
            ((l["src_node"].clone(), dst), v)
        })
        .collect();
    let want: BTreeSet<(String, String)> = LINKS
        .iter()
        .map(|(s, d, ..)| (s.to_string(), d.to_string()))
        .collect();
    if links.keys().cloned().collect::<BTreeSet<_>>() != want {
        bad.push(format!("links {:?}, want {want:?}", links.keys()));
    }
    for (src, dst, msgs, errs, _) in LINKS {
        let sel = format!("{{src_node=\"{src}\", dst_service=\"{dst}\"}}");
        for (record, want) in [
            ("link:mesh_messages:rate1m", msgs),
            ("link:mesh_errors:rate1m", errs),
        ] {
            let got: Vec<f64> = query(base, &format!("{record}{sel}"), None)
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            if got.len() != 1 || !close(got[0], *want) {
                bad.push(format!("{record}{sel}: {got:?}, want {want}"));
            }
        }
    }
    let want: BTreeMap<(String, String), f64> = PEERS
        .iter()
        .map(|(a, b)| ((a.to_string(), b.to_string()), 1.0))
        .collect();
    let got = peer_links(base);
    if got != want {
        bad.push(format!("BGP links {got:?}, want {want:?}"));
    }
    bad
}

/// An exposition body's samples by name: the family's type (`untyped` without a `# TYPE`
/// line) and every label name the samples of that name carry.
fn shapes(body: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut out: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for line in body.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let mut it = t.split_whitespace();
            if let (Some(n), Some(ty)) = (it.next(), it.next()) {
                types.insert(n.to_string(), ty.to_string());
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..end];
        let mut labels = BTreeSet::new();
        if line[end..].starts_with('{') {
            // label="value" pairs; values may hold escaped quotes.
            let mut rest = &line[end + 1..];
            while let Some(eq) = rest.find("=\"") {
                labels.insert(rest[..eq].trim_start_matches(',').trim().to_string());
                let v = &rest[eq + 2..];
                let mut i = 0;
                let b = v.as_bytes();
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                rest = &v[(i + 1).min(v.len())..];
                if rest.starts_with('}') {
                    break;
                }
            }
        }
        let family = |n: &str| {
            types.get(n).cloned().or_else(|| {
                ["_total", "_bucket", "_count", "_sum", "_created"]
                    .iter()
                    .find_map(|suf| n.strip_suffix(suf).and_then(|f| types.get(f).cloned()))
            })
        };
        let ty = family(name).unwrap_or_else(|| "untyped".into());
        let e = out.entry(name.to_string()).or_insert((ty, BTreeSet::new()));
        e.1.extend(labels);
    }
    out
}

/// The metric names the mesh model reads (every identifier of its expressions).
fn names_the_model_reads() -> BTreeSet<String> {
    let rules = std::fs::read_to_string(super::rules::rules_file()).unwrap();
    let mut names = BTreeSet::new();
    for line in rules.lines() {
        let code = line.split('#').next().unwrap_or("");
        for tok in code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
            if tok.len() > 3 && tok.contains('_') && !tok.contains(':') {
                names.insert(tok.to_string());
            }
        }
    }
    names
}

/// Each lab component beside the simulated node that imitates the same exporter, and the
/// name prefixes of that exporter: (lab node, simulated node, prefixes).
const IMITATIONS: &[(&str, &str, &[&str])] = &[
    ("envoy-0", "envoy-0", &["envoy_"]),
    ("envoy-1", "envoy-0", &["envoy_"]),
    // py-grpc-prometheus: the simulated payments service; gRPC's OpenTelemetry client:
    // the simulated orders service's channel to payments.
    ("grpc-0", "grpc-1", &["grpc_server_"]),
    ("grpc-1", "grpc-0", &["grpc_client_"]),
    ("nats-0", "nats-0", &["gnatsd_", "jetstream_"]),
    ("rabbitmq-0", "rabbitmq-0", &["rabbitmq_"]),
    ("host-0", "host-0", &["node_network_"]),
    ("router-0", "router-0", &["frr_"]),
    ("router-1", "router-0", &["frr_"]),
];

/// Where the simulator's imitation of a lab component differs from it, for the names the
/// model reads: a name only one side has, or a different type or label names.
fn imitation_differences(lab_bodies: &BTreeMap<&str, String>, sim: u16) -> Vec<String> {
    let read = names_the_model_reads();
    let mut bad = Vec::new();
    for (lab_node, sim_node, prefixes) in IMITATIONS {
        let (c, body) = get(&format!("http://127.0.0.1:{sim}/node/{sim_node}/metrics")).unwrap();
        assert_eq!(c, 200);
        let keep = |m: BTreeMap<String, (String, BTreeSet<String>)>| {
            m.into_iter()
                .filter(|(n, _)| {
                    read.contains(n.as_str()) && prefixes.iter().any(|p| n.starts_with(p))
                })
                .collect::<BTreeMap<_, _>>()
        };
        let real = keep(shapes(&lab_bodies[lab_node]));
        let simulated = keep(shapes(&body));
        assert!(
            !real.is_empty(),
            "{lab_node} has none of the names the model reads"
        );
        for n in real.keys().chain(simulated.keys()).collect::<BTreeSet<_>>() {
            match (real.get(n), simulated.get(n)) {
                (Some(a), Some(b)) if a == b => {}
                (a, b) => bad.push(format!(
                    "{n}: real {lab_node} {a:?}, simulated {sim_node} {b:?}"
                )),
            }
        }
    }
    bad
}

/// `meshscope view --tui` on the lab's collector, in tmux: every lab node is listed, the
/// nodes with induced traffic with a rate, and orders' sidecar's screen shows its caller.
fn lab_tui(base: &str, nodes: &[&str]) {
    use super::viewer::{tmux, TmuxServer};
    let sock = format!("meshscope-lab-{}", std::process::id());
    let t = |args: &[&str]| {
        let mut a = vec!["-L", sock.as_str()];
        a.extend_from_slice(args);
        tmux(&a)
    };
    let cmd = format!(
        "env -u DISPLAY {} view --tui --source {base} --interval 1s; echo EXITED $?; sleep 60",
        env!("CARGO_BIN_EXE_meshscope")
    );
    t(&[
        "new-session",
        "-d",
        "-s",
        "v",
        "-x",
        "140",
        "-y",
        "40",
        &cmd,
    ]);
    let _kill = TmuxServer(sock.clone());
    let screen = || t(&["capture-pane", "-p", "-t", "v"]);
    let busy = ["envoy-1", "grpc-0", "nats-0", "rabbitmq-0"];
    let mut last: String;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        last = screen();
        let listed = nodes.iter().all(|n| last.lines().any(|l| l.starts_with(n)));
        let rated = busy.iter().all(|n| {
            last.lines().any(|l| {
                l.starts_with(n)
                    && l.split_whitespace()
                        .nth(3)
                        .and_then(|v| v.parse::<f64>().ok())
                        .is_some_and(|v| v > 0.0)
            })
        });
        if listed && rated {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lab in the terminal dashboard:\n{last}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    t(&[
        "send-keys",
        "-t",
        "v",
        "/",
        "e",
        "n",
        "v",
        "o",
        "y",
        "-",
        "1",
        "Enter",
    ]);
    t(&["send-keys", "-t", "v", "Enter"]);
    wait_for(
        "envoy-1's screen with its caller",
        Duration::from_secs(20),
        || {
            last = screen();
            last.contains("envoy-1 (envoy)") && last.contains("envoy-0")
        },
    );
    t(&["send-keys", "-t", "v", "q"]);
    wait_for("the viewer's exit", Duration::from_secs(20), || {
        screen().contains("EXITED 0")
    });
}

/// `meshscope report` on the lab's collector: the deck opens in python-pptx with every
/// lab node in it.
fn lab_deck(base: &str, dir: &Path, nodes: &[&str]) {
    // The availability chart: every lab node, up all the time it ran. (The traffic
    // charts are hourly: they fill once the lab has run through an hour.)
    let chart = super::report::this_weeks_availability(base, &dir.join("lab.pptx"));
    let mut want: Vec<&str> = nodes.to_vec();
    want.sort_unstable();
    assert_eq!(chart["categories"], serde_json::json!(want), "{chart}");
    assert!(
        chart["series"][0]["values"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v == 1.0),
        "{chart}"
    );
}

/// The dashboards of the lab's roles (Kafka and Pulsar are not in the lab, and the
/// collector's own dashboard reads the collector, not the mesh).
const LAB_DASHBOARDS: &[&str] = &[
    "meshscope-mesh-overview",
    "meshscope-node-detail",
    "meshscope-rabbitmq",
    "meshscope-nats",
    "meshscope-grpc",
    "meshscope-network",
    "meshscope-bgp-evpn",
];

/// Panel queries allowed to return nothing from the lab: (uid, panel title, query index,
/// reason).
const LAB_EMPTY: &[(&str, &str, usize, &str)] = &[
    (
        "meshscope-mesh-overview",
        "Fabric utilisation",
        0,
        "virtual NICs report no link speed (/sys/class/net/*/speed is -1 here): \
         utilisation is drawn only for devices with a speed",
    ),
    ("meshscope-node-detail", "Fabric utilisation", 0, "as above"),
    (
        "meshscope-network",
        "Utilisation against link speed",
        0,
        "as above",
    ),
    (
        "meshscope-network",
        "Utilisation against link speed",
        1,
        "as above, transmit",
    ),
];

/// Every panel query of the lab's dashboards returns data from the lab.
fn lab_dashboards(base: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let mut empty = Vec::new();
    for (uid, title, i, e) in super::dashboards::queries() {
        if !LAB_DASHBOARDS.contains(&uid.as_str())
            || LAB_EMPTY
                .iter()
                .any(|(u, t, k, _)| *u == uid && *t == title && *k == i)
        {
            continue;
        }
        let x = meshscope_dashboards::lint::expand(&e, "1m", &|_| ".*".to_string());
        let n = super::dashboards::series(base, &x, now)
            .unwrap_or_else(|err| panic!("{uid} / {title}: {x}: {err}"));
        if n == 0 {
            empty.push(format!("{uid} / {title} [{i}]: {x}"));
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries with no data from the lab:\n{}",
        empty.join("\n")
    );
}

#[test]
fn the_mesh_model_reads_a_lab_of_real_components() {
    let _serial = super::serial();
    for bin in [
        "envoy",
        "nats-server",
        "rabbitmq-server",
        "prometheus-node-exporter",
        "prometheus",
        "python3",
    ] {
        if !available(bin) {
            return;
        }
    }
    if !python_ready() {
        return;
    }
    for bin in [
        "ip",
        "vtysh",
        "prometheus-frr-exporter",
        "/usr/lib/frr/bgpd",
    ] {
        if !available(bin) {
            return;
        }
    }
    // Network namespaces need root (CAP_SYS_ADMIN).
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if !root {
        assert!(
            std::env::var("MESHSCOPE_REAL_COMPONENTS").as_deref() != Ok("required"),
            "the lab's routers need network namespaces: run the tests as root"
        );
        eprintln!("SKIPPED: the lab's routers need root for network namespaces");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let mut lab = Lab::start(d.path());
    let nodes: Vec<&str> = lab.targets.iter().map(|t| t.node).collect();

    // The collector with its embedded model, and Prometheus 2.42 with the same rules,
    // scraping the same lab.
    let cfg = d.path().join("meshscope.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 2s\n  evaluation_interval: 2s\n{}",
            lab.scrape_configs()
        ),
    )
    .unwrap();
    let cp = free_port();
    let _collector = start_collector(&cfg, &d.path().join("data"), cp, &d.path().join("c.log"));
    let pcfg = d.path().join("prometheus.yml");
    std::fs::write(
        &pcfg,
        format!(
            "global:\n  scrape_interval: 2s\n  evaluation_interval: 2s\nrule_files:\n  - '{}'\n{}",
            super::rules::rules_file().display(),
            lab.scrape_configs()
        ),
    )
    .unwrap();
    let pp = free_port();
    let _prom = super::dashboards::start_prometheus(
        &pcfg,
        &d.path().join("prom"),
        pp,
        &d.path().join("prom.log"),
    );
    let (cb, pb) = (
        format!("http://127.0.0.1:{cp}"),
        format!("http://127.0.0.1:{pp}"),
    );

    // A rate over one minute is the induced rate once a minute of traffic is in.
    std::thread::sleep(Duration::from_secs(70));
    for (who, base) in [("collector", &cb), ("Prometheus 2.42", &pb)] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let bad = disagreements(base, &nodes);
            if bad.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{who}: the model disagrees with the lab's traffic:\n{}\nlogs in {}",
                bad.join("\n"),
                d.path().display()
            );
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    // The far end of each link is a service; the model resolves it to its instances.
    for (_, service, _, _, node) in LINKS {
        let got: Vec<String> = query(
            &cb,
            &format!("node:mesh_service:info{{service=\"{service}\"}}"),
            None,
        )
        .into_iter()
        .map(|(l, _)| l["node"].clone())
        .collect();
        assert_eq!(got, [node.to_string()], "the instances of {service}");
    }

    // The terminal dashboard on the lab: every node, live rates where traffic is.
    lab_tui(&cb, &nodes);
    // The weekly deck from the lab.
    lab_deck(&cb, d.path(), &nodes);
    // The dashboards of the roles the lab has.
    lab_dashboards(&cb);

    // The simulator speaks as the lab's components do, for every name the model reads.
    let bodies: BTreeMap<&str, String> = lab
        .targets
        .iter()
        .map(|t| {
            (
                t.node,
                get(&format!("http://{}{}", t.addr, t.path)).unwrap().1,
            )
        })
        .collect();
    let (_sim, sim, _) = super::collect::start_simulator_with(24, d.path(), &["--no-failures"]);
    let bad = imitation_differences(&bodies, sim);
    assert!(
        bad.is_empty(),
        "the simulator differs from the real exporters:\n{}",
        bad.join("\n")
    );

    // A component that stops turns its node down: the gRPC server, and the NATS server
    // behind our exporter (which then fails the scrape, 503).
    lab.stop("grpc-0");
    lab.stop("nats-server");
    for n in ["grpc-0", "nats-0"] {
        wait_for(&format!("{n} down"), Duration::from_secs(30), || {
            node_value(&cb, "node:mesh_up:max", n) == Some(0.0)
        });
    }
    assert_eq!(node_value(&cb, "node:mesh_up:max", "envoy-1"), Some(1.0));

    // A BGP session taken down (router-1 shuts it): both ends count a peer down and the
    // link between them is down; the routers themselves stay up. Then back up.
    // Every peer link at `link` and each router counting `down` peers down.
    let session = |what: &str, link: f64, down: f64, within: u64| {
        let want: BTreeMap<(String, String), f64> = PEERS
            .iter()
            .map(|(a, b)| ((a.to_string(), b.to_string()), link))
            .collect();
        wait_for(what, Duration::from_secs(within), || {
            peer_links(&cb) == want
                && ["router-0", "router-1"]
                    .iter()
                    .all(|r| node_value(&cb, "node:mesh_bgp_peers_down:count", r) == Some(down))
        });
    };
    lab.fabric.shut_session(1, false);
    session("the BGP session down", 0.0, 1.0, 60);
    assert_eq!(node_value(&cb, "node:mesh_up:max", "router-0"), Some(1.0));
    // ... and back: the session established again, no peer down.
    lab.fabric.shut_session(1, true);
    session("the BGP session back", 1.0, 0.0, 90);
}
