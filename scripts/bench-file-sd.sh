#!/usr/bin/env bash
# file_sd at mesh scale: a targets file of N targets (default 10,000, one group each, as
# `meshscope simulate --targets-file` writes them) is loaded by `meshscope collect`, then
# rewritten three ways: every target's labels changed, a tenth of the targets removed, and
# the file replaced by a rename (how configuration tools write it). Prints the time from
# each write until the targets API shows the change, and the collector's CPU while the
# file does not change (a read of the file must not trigger the next one). The targets
# point at a closed port: this measures discovery, not scraping. Not part of the tests.
#
#   bash scripts/bench-file-sd.sh [TARGETS=10000]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10000}"
cargo build --release -q
BIN="$PWD/target/release/meshscope"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

# write FILE N ZONE: N targets on a closed port, labelled with ZONE.
write() {
    python3 - "$@" <<'PY'
import json, sys
f, n, zone = sys.argv[1], int(sys.argv[2]), sys.argv[3]
groups = [{"targets": [f"127.0.0.1:1"], "labels": {"node": f"node-{i}", "role": "envoy", "zone": zone,
           "__metrics_path__": f"/node/node-{i}/metrics"}} for i in range(n)]
json.dump(groups, open(f, "w"))
PY
}
write "$WORK/t.json" "$N" a
P="$(free_port)"
printf "global:\n  scrape_interval: 1m\nscrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: ['%s']\n" "$WORK/t.json" > "$WORK/c.yml"

# until LABEL COUNT: seconds until COUNT active targets carry LABEL (zone).
until_shown() {
    python3 - "http://127.0.0.1:$P" "$1" "$2" "$3" <<'PY'
import json, sys, time, urllib.request
base, zone, want, t0 = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
while time.time() < t0 + 120:
    try:
        r = json.load(urllib.request.urlopen(base + "/api/v1/targets?state=active"))
        a = r["data"]["activeTargets"]
        if len(a) == want and all(t["labels"].get("zone") == zone for t in a):
            print(f"{time.time() - t0:.2f} s")
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.05)
print("not within 120 s")
PY
}
now() { python3 -c 'import time; print(time.time())'; }

T0="$(now)"
"$BIN" collect --config.file "$WORK/c.yml" --storage.tsdb.path "$WORK/data" --web.listen-address "127.0.0.1:$P" >"$WORK/c.log" 2>&1 &
PID=$!
echo "start, $N targets shown after: $(until_shown a "$N" "$T0")"
sleep 5
c0="$(awk '{print $14 + $15}' "/proc/$PID/stat")"; sleep 20; c1="$(awk '{print $14 + $15}' "/proc/$PID/stat")"
echo "idle CPU with $N targets (scrapes every minute, refused): $(python3 -c "print(f'{($c1 - $c0) / 100 / 20:.3f}')") cores"
T0="$(now)"; write "$WORK/t.json" "$N" b
echo "every target's labels changed, shown after: $(until_shown b "$N" "$T0")"
T0="$(now)"; write "$WORK/t.json" $((N * 9 / 10)) c
echo "a tenth of the targets removed, shown after: $(until_shown c $((N * 9 / 10)) "$T0")"
write "$WORK/new.json.tmp" "$N" d
T0="$(now)"; mv "$WORK/new.json.tmp" "$WORK/t.json"
echo "the file replaced by a rename, shown after: $(until_shown d "$N" "$T0")"
