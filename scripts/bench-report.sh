#!/usr/bin/env bash
# The reporter's targets (issue 4; figures in BENCHMARKS.md): a NODES-node simulated mesh
# (default 50), the last complete ISO week at 15 s, held by the collector and by
# Prometheus 2.42 (the same model series: evaluated by `meshscope tsdb backfill-rules`,
# then dumped and imported with promtool). `meshscope report` runs RUNS times (default 3)
# against each side: the fetch time per side, and per run the build's CPU time (after the
# data is fetched), the process's peak RSS and the deck's size.
# Usage: bash scripts/bench-report.sh [NODES] [RUNS]; DATA=DIR keeps the databases and
# reuses them while the week is the same.
set -euo pipefail
cd "$(dirname "$0")/.."
NODES="${1:-50}" RUNS="${2:-3}"

command -v prometheus >/dev/null && command -v promtool >/dev/null || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null
}
cargo build --release -q
BIN="$PWD/target/release/meshscope"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
DB="$WORK"
if [ -n "${DATA:-}" ]; then mkdir -p "$DATA"; DB="$(realpath "$DATA")"; fi
. scripts/bench-lib.sh   # free_port

# The last complete ISO week in UTC: its name, start and end (Unix seconds).
read -r WEEK START END <<<"$(python3 - <<'PY'
import datetime as d
now = d.datetime.now(d.timezone.utc)
monday = (now - d.timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
start = monday - d.timedelta(days=7)
y, w, _ = start.isocalendar()
print(f"{y}-W{w:02d}", int(start.timestamp()), int(monday.timestamp()))
PY
)"

if [ -f "$DB/week" ] && [ "$(cat "$DB/week")" = "$WEEK-$NODES" ]; then
    echo "== reusing the databases in $DB ($WEEK, $NODES nodes)" >&2
else
    rm -rf "$DB/ms" "$DB/prom" "$DB/week"
    echo "== $NODES nodes, $WEEK and the hour before it at 15 s into the collector's store" >&2
    t0=$(date +%s)
    "$BIN" simulate --nodes "$NODES" --seed 1 --history 169h --history-end "$END" \
        --storage.tsdb.path "$DB/ms" >/dev/null 2>&1
    echo "   raw series: $(( $(date +%s) - t0 )) s" >&2
    t0=$(date +%s)
    "$BIN" tsdb backfill-rules --start "$(( START - 3600 ))" --end "$END" \
        --storage.tsdb.path "$DB/ms" >/dev/null 2>&1
    echo "   mesh model (every 15 s): $(( $(date +%s) - t0 )) s" >&2
    t0=$(date +%s)
    "$BIN" tsdb dump --storage.tsdb.path "$DB/ms" \
        --match '{__name__=~"node:mesh_(up:max|messages_in:rate1m|messages_out:rate1m|bytes_in:rate1m|bytes_out:rate1m|backlog:sum|errors:rate1m|drops:rate1m|latency_seconds:p50|latency_seconds:p99|fabric_utilisation:ratio|fabric_drops:rate1m|bgp_peers_down:count)"}' \
        >"$WORK/model.om" 2>/dev/null
    promtool tsdb create-blocks-from openmetrics --max-block-duration=24h "$WORK/model.om" "$DB/prom" >/dev/null
    echo "   the deck's series into Prometheus: $(( $(date +%s) - t0 )) s ($(du -h "$WORK/model.om" | cut -f1) of OpenMetrics)" >&2
    rm -f "$WORK/model.om"
    echo "$WEEK-$NODES" >"$DB/week"
fi

PP=$(free_port); MP=$(free_port)
printf 'global:\n  scrape_interval: 15s\n' >"$WORK/cfg.yml"
prometheus --config.file="$WORK/cfg.yml" --storage.tsdb.path="$DB/prom" \
    --web.listen-address="127.0.0.1:$PP" --storage.tsdb.retention.time=3650d >"$WORK/prom.log" 2>&1 &
"$BIN" collect --config.file "$WORK/cfg.yml" --storage.tsdb.path "$DB/ms" \
    --web.listen-address "127.0.0.1:$MP" --rules.mesh-model=false >"$WORK/ms.log" 2>&1 &
for p in "$PP" "$MP"; do
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$p/-/ready" >/dev/null && break; sleep 0.5; done
done

python3 - "$BIN" "$WEEK" "$END" "$RUNS" "$MP" "$PP" "$WORK" <<'PY'
import datetime, os, re, resource, statistics, subprocess, sys
binary, week, end, runs, mp, pp, work = sys.argv[1:]
rows = []
for side, port in (("collector", mp), ("prometheus", pp)):
    for i in range(int(runs)):
        out = os.path.join(work, f"{side}-{i}.pptx")
        generated = datetime.datetime.fromtimestamp(int(end), datetime.timezone.utc).isoformat()
        r = subprocess.run([binary, "report", "--source", f"http://127.0.0.1:{port}", "--week", week,
                            "--generated-at", generated, "--out", out], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"{side}: {r.stderr}")
        # ru_maxrss of children is the largest of any child so far: run the collector side
        # first and report the largest, which bounds every run.
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        m = re.search(r"\((\d+) slides, (\d+) bytes\).*fetched in ([\d.]+) s, built in ([\d.]+) s \(([\d.]+) s CPU\)", r.stdout)
        if not m:
            raise SystemExit(f"unexpected output: {r.stdout}")
        slides, size, fetch, build, cpu = int(m[1]), int(m[2]), float(m[3]), float(m[4]), float(m[5])
        rows.append((side, slides, size, fetch, build, cpu, peak))
        print(f"{side:10} run {i+1}: {slides} slides, {size/1e6:.2f} MB, fetch {fetch:.2f} s, build {build:.2f} s wall / {cpu:.2f} s CPU, peak RSS so far {peak/1024:.0f} MiB")
def med(side, k):
    return statistics.median(r[k] for r in rows if r[0] == side)
print()
print(f"fetch (median of {runs}): collector {med('collector', 3):.2f} s, Prometheus 2.42 {med('prometheus', 3):.2f} s")
print(f"build after the fetch (median): {med('collector', 5):.2f} s CPU (target <= 3 s); deck {max(r[2] for r in rows)/1e6:.2f} MB (target <= 6 MB); "
      f"peak RSS of any run {max(r[6] for r in rows)/1024:.0f} MiB (target <= 300 MB)")
PY
