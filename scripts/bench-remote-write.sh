#!/usr/bin/env bash
# Remote write, meshscope beside Prometheus 2.42 as the sender, each into its own
# Prometheus 2.42 receiver (--web.enable-remote-write-receiver), scraping the same
# simulated mesh every second. Phases run one after another (never two senders at once):
#   1. each sender without remote_write, then with it, DURATION seconds each after a
#      15 s warm-up: the CPU that sending costs per sample sent;
#   2. each sender's receiver stopped for 60 s, then started again: how long until what
#      was just scraped is acknowledged again, the samples/s sent meanwhile and the
#      samples sent per CPU-second.
# Not part of the test command.
#
#   bash scripts/bench-remote-write.sh [NODES=50] [DURATION=60]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v prometheus >/dev/null || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null
}
cargo build --release -q
exec python3 - "$PWD/target/release/meshscope" "${1:-50}" "${2:-60}" <<'PY'
import json, os, signal, socket, subprocess, sys, tempfile, time, urllib.parse, urllib.request

BIN, NODES, DUR = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
work = tempfile.mkdtemp(prefix="bench-rw-")
procs = []

def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def start(args, log):
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, log), "a"))
    procs.append(p)
    return p

def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill(); p.wait()

def get(url):
    try:
        return urllib.request.urlopen(url, timeout=5).read().decode()
    except Exception:
        return None

def wait(url, secs=60):
    t = time.time()
    while time.time() - t < secs:
        if get(url) is not None:
            return
        time.sleep(0.5)
    raise SystemExit(f"{url} did not come up")

def metric(base, name):
    body = get(f"{base}/metrics") or ""
    return sum(float(l.rsplit(" ", 1)[1]) for l in body.splitlines()
               if l.startswith(name) and l[len(name)] in "{ ")

def cpu(p):
    f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def receiver(name, p):
    cfg = os.path.join(work, f"{name}.yml")
    open(cfg, "w").write("global:\n  scrape_interval: 1m\n")
    proc = start(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={work}/{name}",
                  f"--web.listen-address=127.0.0.1:{p}", "--web.enable-remote-write-receiver"], f"{name}.log")
    wait(f"http://127.0.0.1:{p}/-/ready")
    return proc

targets = os.path.join(work, "targets.json")
start([BIN, "simulate", "--nodes", str(NODES), "--no-failures", "--listen", f"127.0.0.1:{port()}",
       "--targets-file", targets], "sim.log")
while not os.path.exists(targets):
    time.sleep(0.2)
time.sleep(1)

def sender_config(kind, rw_port):
    c = f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: ['{targets}']\n"
    if rw_port:
        c += f"remote_write:\n  - url: http://127.0.0.1:{rw_port}/api/v1/write\n"
    path = os.path.join(work, f"{kind}-{rw_port or 'none'}.yml")
    open(path, "w").write(c)
    return path

def sender(kind, rw_port, run):
    p = port()
    cfg = sender_config(kind, rw_port)
    data = os.path.join(work, f"{kind}-{run}")
    if kind == "meshscope":
        args = [BIN, "collect", "--config.file", cfg, "--storage.tsdb.path", data,
                "--web.listen-address", f"127.0.0.1:{p}", "--rules.mesh-model=false"]
    else:
        args = ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{p}"]
    proc = start(args, f"{kind}.log")
    base = f"http://127.0.0.1:{p}"
    wait(f"{base}/-/ready")
    return proc, base

prefix = {"meshscope": "meshscope_remote_storage_", "prometheus": "prometheus_remote_storage_"}
sent_name = {"meshscope": "meshscope_remote_storage_samples_total",
             "prometheus": "prometheus_remote_storage_samples_total"}
scraped_name = {"meshscope": "meshscope_scrape_samples_scraped_total",
                "prometheus": "prometheus_tsdb_head_samples_appended_total"}

results = {}
for kind in ("meshscope", "prometheus"):
    rp = port()
    rec = receiver(f"recv-{kind}", rp)
    row = {}
    for rw in (False, True):
        proc, base = sender(kind, rp if rw else None, "rw" if rw else "plain")
        time.sleep(15)
        c0, s0, t0 = cpu(proc), metric(base, sent_name[kind]), time.time()
        time.sleep(DUR)
        c1, s1, t1 = cpu(proc), metric(base, sent_name[kind]), time.time()
        row["cpu_rw" if rw else "cpu_plain"] = (c1 - c0) / (t1 - t0)
        if rw:
            row["sent_per_s"] = (s1 - s0) / (t1 - t0)
            # Catch-up: the receiver away for 60 s.
            stop(rec)
            time.sleep(60)
            hi = prefix[kind] + "queue_highest_sent_timestamp_seconds"
            behind = time.time() - metric(base, hi)
            sent_before, c_before = metric(base, sent_name[kind]), cpu(proc)
            rec = receiver(f"recv-{kind}", rp)
            tb = time.time()
            # Caught up: what was scraped a moment ago is acknowledged.
            while time.time() - tb < 300:
                time.sleep(0.25)
                if metric(base, hi) >= time.time() - 2.5:
                    break
            dt = time.time() - tb
            sent = metric(base, sent_name[kind]) - sent_before
            row.update(behind=behind, catchup_s=dt, catchup_rate=sent / dt,
                       catchup_per_cpu_s=sent / max(cpu(proc) - c_before, 1e-9))
        stop(proc)
    stop(rec)
    results[kind] = row
    print(f"{kind}: {json.dumps(row)}", file=sys.stderr)

m, p = results["meshscope"], results["prometheus"]
def per_sample(r):
    return (r["cpu_rw"] - r["cpu_plain"]) / r["sent_per_s"] * 1e6
print(f"\n{NODES} simulated nodes scraped every 1 s, {DUR} s per measurement\n")
print("| | meshscope | Prometheus 2.42 | ratio |")
print("|---|---|---|---|")
print(f"| samples sent per second | {m['sent_per_s']:.0f} | {p['sent_per_s']:.0f} | |")
print(f"| sender CPU without remote_write (cores) | {m['cpu_plain']:.3f} | {p['cpu_plain']:.3f} | {m['cpu_plain']/p['cpu_plain']:.2f} |")
print(f"| sender CPU with remote_write (cores) | {m['cpu_rw']:.3f} | {p['cpu_rw']:.3f} | {m['cpu_rw']/p['cpu_rw']:.2f} |")
print(f"| CPU per sample sent (remote_write's share, µs) | {per_sample(m):.2f} | {per_sample(p):.2f} | {per_sample(m)/per_sample(p):.2f} |")
print(f"| behind when the receiver came back (s) | {m['behind']:.0f} | {p['behind']:.0f} | |")
print(f"| catch-up time | {m['catchup_s']:.1f} s | {p['catchup_s']:.1f} s | {m['catchup_s']/p['catchup_s']:.2f} |")
print(f"| catch-up rate (samples/s) | {m['catchup_rate']:.0f} | {p['catchup_rate']:.0f} | {m['catchup_rate']/p['catchup_rate']:.2f} |")
print(f"| samples sent per CPU-second during catch-up | {m['catchup_per_cpu_s']:.0f} | {p['catchup_per_cpu_s']:.0f} | {m['catchup_per_cpu_s']/p['catchup_per_cpu_s']:.2f} |")
for x in procs:
    if x.poll() is None:
        x.kill()
PY
