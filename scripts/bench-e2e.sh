#!/usr/bin/env bash
# End-to-end ingest benchmark: meshscope collect, Prometheus (Debian's 2.42) and
# VictoriaMetrics single-node (Debian's 1.79) scrape the same targets, one after the
# other; prints CPU seconds per million samples, RSS, and the ratios. Not part of the
# test command.
#
#   bash scripts/bench-e2e.sh [TARGETS=200] [SERIES=500] [INTERVAL=1s] [SECONDS=120]
#   CHANGING=1 WARMUP=120 bash scripts/bench-e2e.sh 100 10000 10s 300    # a million series
#
# CHANGING=1: every scrape gives the counters new values (else the bodies never change);
# WARMUP: seconds before measuring (default 20); PEERS: which of prometheus and
# victoriametrics to run (default both). Installs `prometheus` and `victoria-metrics`
# with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS="${1:-200}" SERIES="${2:-500}" INTERVAL="${3:-1s}" SECS="${4:-120}"
WARMUP="${WARMUP:-20}" PEERS="${PEERS:-prometheus victoriametrics}"

for pkg in prometheus victoria-metrics; do
    command -v "$pkg" >/dev/null || {
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
        $SUDO apt-get install -y -q --no-install-recommends "$pkg" >/dev/null
    }
done
cargo build --release -q
BIN="$PWD/target/release/meshscope"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
BODY_PORT="$(free_port)"

# Pre-rendered bodies: SERIES series per target, node_exporter-like names and labels.
python3 scripts/bodies.py "$BODY_PORT" "$TARGETS" "$SERIES" ${CHANGING:+changing} 2>/dev/null &
sleep 1

CFG="$WORK/config.yml"
{
    echo "global:"
    echo "  scrape_interval: $INTERVAL"
    echo "  scrape_timeout: $INTERVAL"
    echo "scrape_configs:"
    echo "  - job_name: bench"
    echo "    static_configs:"
    for t in $(seq 0 $((TARGETS - 1))); do
        echo "      - targets: ['127.0.0.1:$BODY_PORT']"
        echo "        labels: {__metrics_path__: /t/$t/metrics, shard: 't$t'}"
    done
} > "$CFG"

cpu_of() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
rss_of() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
# The counter's value, summed over its label sets (Prometheus 2.42 labels it by type).
appended() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%.0f\n", s}'; }

# run NAME PORT METRIC COMMAND...
run() {
    local name="$1" port="$2" metric="$3"; shift 3
    "$@" > "$WORK/$name.log" 2>&1 &
    local pid=$!
    sleep "$WARMUP"
    local c0 s0 c1 s1 rss
    c0="$(cpu_of $pid)"; s0="$(appended "$port" "$metric")"
    sleep "$SECS"
    c1="$(cpu_of $pid)"; s1="$(appended "$port" "$metric")"; rss="$(rss_of $pid)"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 -c "
c=$c1-$c0; s=$s1-$s0
print(f'$name: {s:.0f} samples in ${SECS}s, {c:.2f} CPU s, {c/(s/1e6):.3f} CPU s per million samples, RSS {$rss/2**20:.0f} MiB')
print(f'$name {c/(s/1e6)} {$rss}')" | tee -a "$WORK/results"
}

MP="$(free_port)"
run meshscope "$MP" meshscope_tsdb_head_samples_appended_total \
    "$BIN" collect --config.file "$CFG" --storage.tsdb.path "$WORK/ms" --web.listen-address "127.0.0.1:$MP"
if [[ " $PEERS " == *" prometheus "* ]]; then
    PP="$(free_port)"
    run prometheus "$PP" prometheus_tsdb_head_samples_appended_total \
        prometheus --config.file "$CFG" --storage.tsdb.path "$WORK/prom" --web.listen-address "127.0.0.1:$PP"
fi
if [[ " $PEERS " == *" victoriametrics "* ]]; then
    VP="$(free_port)"
    run victoriametrics "$VP" vm_rows_inserted_total \
        victoria-metrics -promscrape.config "$CFG" -storageDataPath "$WORK/vm" -httpListenAddr "127.0.0.1:$VP"
fi

python3 - "$WORK/results" <<'PY'
import sys
r = {}
for l in open(sys.argv[1]):
    p = l.split()
    if len(p) == 3 and p[0] in ("meshscope", "prometheus", "victoriametrics"):
        r[p[0]] = (float(p[1]), float(p[2]))
m = r["meshscope"]
if "prometheus" in r:
    p = r["prometheus"]
    print(f"ratio meshscope/prometheus: CPU per sample {m[0]/p[0]:.2f}x (goal <= 0.5x), RSS {m[1]/p[1]:.2f}x (goal <= 0.33x)")
if "victoriametrics" in r:
    v = r["victoriametrics"]
    print(f"ratio meshscope/victoriametrics: CPU per sample {m[0]/v[0]:.2f}x (goal <= 0.5x), RSS {m[1]/v[1]:.2f}x (goal < 1x)")
PY
