#!/usr/bin/env bash
# The collector at mesh scale: one simulated mesh of NODES nodes, scraped every INTERVAL
# with the mesh model on, by `meshscope collect`, by `meshscope collect
# --rules.mesh-model=false` (what the model costs) and by Prometheus 2.42 loading the same
# model/mesh.rules.yml (Debian's; 15 s group interval), one after the other in this run.
# Prints CPU (cores), RSS, samples scraped, the model's cost per scraped sample, its
# freshness (age of each node's newest model sample, p50/p99 over nodes, sampled every
# 5 s), the simulator's own CPU, and the ratios against Prometheus. Not part of the tests.
#
#   bash scripts/bench-mesh.sh [NODES=1000] [INTERVAL=5s] [SECONDS=120] [WARMUP=90]
#   BIN=/path/to/other/meshscope bash scripts/bench-mesh.sh ...   # another collector build
#
# Needs `prometheus` (apt-get install prometheus; installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
NODES="${1:-1000}" INTERVAL="${2:-5s}" SECS="${3:-120}" WARMUP="${4:-90}"

command -v prometheus >/dev/null || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null
}
# The simulator is always this tree's; BIN may name another collector to compare.
cargo build --release -q
SIM_BIN="$PWD/target/release/meshscope"
BIN="${BIN:-$SIM_BIN}"
RULES="$PWD/model/mesh.rules.yml"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

cpu_of() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
rss_of() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
# A counter's value from /metrics, summed over its label sets.
counter() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%.0f\n", s}'; }
# The age of every node's newest model sample, p50 and p99 over nodes, now.
ages() {
    local q='quantile(0.5, time() - timestamp(node:mesh_messages_in:rate1m)) or label_replace(quantile(0.99, time() - timestamp(node:mesh_messages_in:rate1m)), "q", "p99", "", "")'
    curl -sG "$1/api/v1/query" --data-urlencode "query=$q" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
v = {x["metric"].get("q", "p50"): float(x["value"][1]) for x in r}
print(v.get("p50", "nan"), v.get("p99", "nan"))'
}

SP="$(free_port)"
"$SIM_BIN" simulate --nodes "$NODES" --listen "127.0.0.1:$SP" --targets-file "$WORK/t.json" >"$WORK/sim.log" 2>&1 &
SIMPID=$!
for _ in $(seq 60); do [ -s "$WORK/t.json" ] && break; sleep 1; done
printf "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: 15s\n%%RULES%%scrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: ['%s']\n" \
    "$INTERVAL" "$INTERVAL" "$WORK/t.json" > "$WORK/base.yml"
sed 's/%RULES%//' "$WORK/base.yml" > "$WORK/c.yml"
sed "s|%RULES%|rule_files: ['$RULES']\n|" "$WORK/base.yml" > "$WORK/p.yml"
echo "== $NODES nodes every $INTERVAL: warm-up ${WARMUP}s, then ${SECS}s measured per phase" >&2

# run NAME PORT SAMPLES_METRIC COMMAND...
run() {
    local name="$1" port="$2" metric="$3"; shift 3
    "$@" > "$WORK/$name.log" 2>&1 &
    local pid=$! base="http://127.0.0.1:$port"
    sleep "$WARMUP"
    local c0 s0 n0 sim0 c1 s1 n1 sim1 rss
    c0="$(cpu_of $pid)"; s0="$(counter "$base" "$metric")"; sim0="$(cpu_of $SIMPID)"
    n0="$(counter "$base" meshscope_rule_node_evaluations_total)"
    : > "$WORK/$name.ages"
    local end=$((SECONDS + SECS))
    while [ $SECONDS -lt $end ]; do
        ages "$base" >> "$WORK/$name.ages" || true
        sleep 5
    done
    c1="$(cpu_of $pid)"; s1="$(counter "$base" "$metric")"; sim1="$(cpu_of $SIMPID)"; rss="$(rss_of $pid)"
    n1="$(counter "$base" meshscope_rule_node_evaluations_total)"
    local series; series="$(curl -s "$base/api/v1/query?query=count(%7B__name__%3D~%22.%2B%22%7D)" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 - "$name" "$c0" "$c1" "$s0" "$s1" "$rss" "$SECS" "$WORK/$name.ages" "$sim0" "$sim1" "$n0" "$n1" "$series" <<'PY' | tee -a "$WORK/results"
import statistics, sys
name, c0, c1, s0, s1, rss, secs, ages, sim0, sim1, n0, n1, series = sys.argv[1:]
cores = (float(c1) - float(c0)) / float(secs)
samples = float(s1) - float(s0)
sim = (float(sim1) - float(sim0)) / float(secs)
a = [tuple(map(float, l.split())) for l in open(ages) if l.strip() and "nan" not in l]
p50 = statistics.median(x[0] for x in a) if a else float("nan")
p99 = max(x[1] for x in a) if a else float("nan")
nodes = (float(n1) - float(n0)) / float(secs)
print(f"{name}: {cores:.3f} cores, RSS {float(rss)/2**20:.0f} MiB, {series} series, {samples/float(secs):.0f} samples/s appended"
      + (f", model age p50 {p50:.1f} s, p99 (worst over {len(a)} looks) {p99:.1f} s" if a else "")
      + (f", {nodes:.0f} node evaluations/s" if nodes > 0 else "")
      + f"; simulator {sim:.3f} cores")
print(f"RESULT {name} {cores} {float(rss)} {samples / float(secs)}")
PY
}

CP="$(free_port)"
run meshscope "$CP" meshscope_tsdb_head_samples_appended_total \
    "$BIN" collect --config.file "$WORK/c.yml" --storage.tsdb.path "$WORK/ms" --web.listen-address "127.0.0.1:$CP"
rm -rf "$WORK/ms"
NP="$(free_port)"
run meshscope-no-model "$NP" meshscope_tsdb_head_samples_appended_total \
    "$BIN" collect --rules.mesh-model=false --config.file "$WORK/c.yml" --storage.tsdb.path "$WORK/ms0" --web.listen-address "127.0.0.1:$NP"
rm -rf "$WORK/ms0"
PP="$(free_port)"
run prometheus "$PP" prometheus_tsdb_head_samples_appended_total \
    prometheus --config.file "$WORK/p.yml" --storage.tsdb.path "$WORK/prom" --web.listen-address "127.0.0.1:$PP"

python3 - "$WORK/results" <<'PY'
import sys
r = {}
for l in open(sys.argv[1]):
    p = l.split()
    if p and p[0] == "RESULT":
        r[p[1]] = (float(p[2]), float(p[3]), float(p[4]))
m, z, p = r["meshscope"], r["meshscope-no-model"], r["prometheus"]
# Scraped samples: the model-free run appends nothing else.
print(f"model cost (meshscope - no model): {(m[0] - z[0]):.3f} cores, "
      f"{(m[0] - z[0]) / max(z[2], 1) * 1e6:.2f} CPU s per million scraped samples")
print(f"ratio meshscope/prometheus: CPU {m[0]/p[0]:.2f}x (goal <= 0.5x), RSS {m[1]/p[1]:.2f}x (goal <= 0.33x)")
PY
