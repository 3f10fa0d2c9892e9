#!/usr/bin/env bash
# Query benchmark: meshscope and Debian's Prometheus 2.42 on the same backfilled history
# of the simulated mesh (promtool tsdb create-blocks-from openmetrics on one side,
# meshscope tsdb import openmetrics on the other). Every mesh-model expression runs as a
# range query over the whole history at a 5-minute step and as an instant query at its
# end, RUNS times on each side, alternating; prints the median latencies, their ratio,
# and each process's peak RSS during the queries. Not part of the test command.
#
#   bash scripts/bench-query.sh [NODES=50] [DAYS=7] [RUNS=5]
#
# HIST=FILE uses (and keeps) an OpenMetrics history written earlier by
# `meshscope simulate --history ... --history-out FILE` instead of writing one (50 nodes
# over 7 days at 15 s is 64 M samples, 10.7 GB of text). DATA=DIR keeps both imported
# databases in DIR (DIR/prom, DIR/ms) and reuses them when they are there, so the
# queries can be re-run on a new build without importing again (re-import after a
# change to the block format). BIN=PATH queries with that meshscope binary instead of
# this tree's release build.
set -euo pipefail
cd "$(dirname "$0")/.."
NODES="${1:-50}" DAYS="${2:-7}" RUNS="${3:-5}"

command -v prometheus >/dev/null && command -v promtool >/dev/null || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null
}
# BIN=PATH runs another build of meshscope (e.g. an older commit's, for a before/after).
if [ -z "${BIN:-}" ]; then
    cargo build --release -q
    BIN="$PWD/target/release/meshscope"
fi
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
DB="$WORK"
if [ -n "${DATA:-}" ]; then mkdir -p "$DATA"; DB="$(realpath "$DATA")"; fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [ -d "$DB/prom" ] && [ -d "$DB/ms" ] && [ -f "$DB/end" ]; then
    echo "== reusing the databases in $DB" >&2
    END_S=$(cat "$DB/end")
else
    if [ -n "${HIST:-}" ]; then
        echo "== history: $HIST" >&2
        ln -s "$(realpath "$HIST")" "$WORK/hist.om"
    else
        echo "== history: $NODES nodes, ${DAYS}d at 15s" >&2
        "$BIN" simulate --nodes "$NODES" --seed 1 --history "${DAYS}d" --history-step 15s \
            --history-out "$WORK/hist.om" 2>/dev/null
    fi
    END_S=$(python3 - "$WORK/hist.om" <<'PY'
import sys, os
# The newest timestamp: the last sample line before "# EOF".
with open(sys.argv[1], 'rb') as f:
    f.seek(max(0, os.path.getsize(sys.argv[1]) - 65536))
    lines = f.read().decode().splitlines()
ts = [float(l.split()[-1]) for l in lines if l and not l.startswith('#') and len(l.split()) >= 3]
print(int(max(ts)))
PY
    )
    ls -lL "$WORK/hist.om" | awk '{printf "   %.1f GB of OpenMetrics\n", $5/1e9}' >&2
    # promtool reads the whole input once per block it writes: blocks of a day, not 2 h.
    t0=$(date +%s); promtool tsdb create-blocks-from openmetrics --max-block-duration=24h \
        "$WORK/hist.om" "$DB/prom" >/dev/null
    echo "   promtool import: $(( $(date +%s) - t0 )) s" >&2
    t0=$(date +%s); "$BIN" tsdb import openmetrics "$WORK/hist.om" --storage.tsdb.path "$DB/ms" >/dev/null 2>&1
    echo "   meshscope import: $(( $(date +%s) - t0 )) s" >&2
    rm -f "$WORK/hist.om"
    echo "$END_S" > "$DB/end"
fi

PP=$(free_port); MP=$(free_port)
printf 'global:\n  scrape_interval: 15s\n' > "$WORK/cfg.yml"
prometheus --config.file="$WORK/cfg.yml" --storage.tsdb.path="$DB/prom" \
    --web.listen-address="127.0.0.1:$PP" --storage.tsdb.retention.time=3650d \
    --query.max-samples=500000000 >"$WORK/prom.log" 2>&1 &
PROM_PID=$!
"$BIN" collect --config.file "$WORK/cfg.yml" --storage.tsdb.path "$DB/ms" \
    --web.listen-address "127.0.0.1:$MP" --rules.mesh-model=false \
    --query.max-samples 500000000 >"$WORK/ms.log" 2>&1 &
MS_PID=$!
for p in "$PP" "$MP"; do
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$p/-/ready" >/dev/null && break; sleep 0.5; done
done

python3 - "$MP" "$PP" "$MS_PID" "$PROM_PID" "$END_S" "$DAYS" "$RUNS" model/mesh.rules.yml <<'PY'
import json, statistics, sys, time, urllib.parse, urllib.request
mp, pp, ms_pid, prom_pid, end_s, days, runs, rules = sys.argv[1:]
end_s, days, runs = int(end_s), int(days), int(runs)

def exprs(path):
    # The rule file's `expr:` values (plain or block scalars), without a YAML library.
    out, cur, block = [], None, False
    for line in open(path):
        s = line.rstrip('\n')
        if block:
            if s.strip() == '' or s.startswith(' ' * (indent + 2)):
                cur.append(s.strip()); continue
            out.append(' '.join(x for x in cur if x)); block = False
        st = s.strip()
        if st.startswith('expr:'):
            v = st[5:].strip()
            if v == '|':
                block, cur, indent = True, [], len(s) - len(s.lstrip())
            else:
                out.append(v)
    if block:
        out.append(' '.join(x for x in cur if x))
    return out

def hwm(pid):
    for l in open(f'/proc/{pid}/status'):
        if l.startswith('VmHWM'):
            return int(l.split()[1]) * 1024
    return 0

def rss(pid):
    for l in open(f'/proc/{pid}/status'):
        if l.startswith('VmRSS'):
            return int(l.split()[1]) * 1024
    return 0

def run(port, path, params):
    data = urllib.parse.urlencode(params).encode()
    t = time.perf_counter()
    with urllib.request.urlopen(f'http://127.0.0.1:{port}{path}', data, timeout=600) as r:
        body = json.load(r)
    dt = time.perf_counter() - t
    if body.get('status') != 'success':
        raise SystemExit(f'{port} {params}: {body}')
    res = body['data']['result']
    return dt, len(res)

qs = [e for e in exprs(rules) if 'ALERTS' not in e]
qs = [e for e in qs if not e.startswith('node:mesh_') or '(' in e]
start = end_s - days * 86400 + 600
base = {'ms': (rss(int(ms_pid)), hwm(int(ms_pid))), 'prom': (rss(int(prom_pid)), hwm(int(prom_pid)))}
rows, ratios_r, ratios_i = [], [], []
for q in qs:
    rng = {'query': q, 'start': start, 'end': end_s, 'step': 300}
    ins = {'query': q, 'time': end_s}
    tm = {'ms_r': [], 'prom_r': [], 'ms_i': [], 'prom_i': []}
    n = None
    for _ in range(runs):
        for side, port in (('ms', mp), ('prom', pp)):
            dt, k = run(port, '/api/v1/query_range', rng); tm[side + '_r'].append(dt); n = k
            dt, _ = run(port, '/api/v1/query', ins); tm[side + '_i'].append(dt)
    med = {k: statistics.median(v) for k, v in tm.items()}
    ratios_r.append(med['ms_r'] / med['prom_r']); ratios_i.append(med['ms_i'] / med['prom_i'])
    rows.append((q[:60].replace('\n', ' '), n, med['ms_r'], med['prom_r'], med['ms_i'], med['prom_i']))
print(f"{'query':60} {'series':>6} {'range ms':>9} {'range prom':>10} {'inst ms':>8} {'inst prom':>9}")
for r in rows:
    print(f"{r[0]:60} {r[1]:>6} {r[2]*1000:>8.1f}ms {r[3]*1000:>8.1f}ms {r[4]*1000:>6.1f}ms {r[5]*1000:>7.1f}ms")
print()
print(f"median over queries of (meshscope / Prometheus): range {statistics.median(ratios_r):.2f}x, instant {statistics.median(ratios_i):.2f}x (goal <= 1.0)")
print(f"sum of medians: range meshscope {sum(r[2] for r in rows):.2f} s vs Prometheus {sum(r[3] for r in rows):.2f} s; "
      f"instant {sum(r[4] for r in rows)*1000:.0f} ms vs {sum(r[5] for r in rows)*1000:.0f} ms")
for side, pid in (('meshscope', ms_pid), ('prometheus', prom_pid)):
    key = 'ms' if side == 'meshscope' else 'prom'
    print(f"{side}: RSS before queries {base[key][0]/2**20:.0f} MiB, peak during {hwm(int(pid))/2**20:.0f} MiB (VmHWM; it was {base[key][1]/2**20:.0f} MiB before)")
PY
