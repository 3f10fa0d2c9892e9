#!/usr/bin/env bash
# X11 viewer benchmark: bytes on the X connection (counted by ../shared/tools/x11-bytes.py,
# a relay between a display of its own and Xvfb) for one node window at 1 Hz and 10 Hz,
# side by side with xosview in the same run; the bytes of a window's start; and the
# viewer's CPU with 50 node windows at 1 Hz. Not part of the test command.
#
#   bash scripts/bench-viewer.sh [SECONDS=60]
#
# X11_BYTES=PATH overrides where x11-bytes.py is.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-60}"
X11_BYTES="${X11_BYTES:-../shared/tools/x11-bytes.py}"
[ -f "$X11_BYTES" ] || { echo "x11-bytes.py not found at $X11_BYTES (set X11_BYTES)" >&2; exit 1; }
need=()
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xosview >/dev/null || need+=(xosview)
# xosview's default font (7x13bold) is not among Xvfb's built-in ones.
[ -d /usr/share/fonts/X11/misc ] && ls /usr/share/fonts/X11/misc | grep -q 7x13B || need+=(xfonts-base)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --release -q
BIN="$PWD/target/release/meshscope"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
. scripts/bench-lib.sh

XN=$(free_display)
Xvfb ":$XN" -screen 0 1600x1200x24 -nolisten tcp >/dev/null 2>&1 &
for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$XN" ] && break; sleep 0.1; done

start_mesh 50 1s --no-failures
wait_model 50

# measure NAME SECONDS COMMAND...: run COMMAND on a relayed display, print start bytes
# (first 5 s) and steady-state bytes/s each way (after 15 s of warm-up).
measure() {
    local name="$1" secs="$2"; shift 2
    local ln; ln=$(free_display)
    python3 "$X11_BYTES" --listen "$ln" --target "$XN" --out "$WORK/$name.jsonl" --interval 1 --max-seconds $((secs + 30)) &
    local relay=$!
    sleep 0.5
    DISPLAY=":$ln" "$@" >/dev/null 2>"$WORK/$name.log" &
    local pid=$!
    sleep $((secs + 20))
    kill "$pid" 2>/dev/null || true; sleep 0.5; kill "$relay" 2>/dev/null || true; wait "$relay" 2>/dev/null || true
    python3 - "$WORK/$name.jsonl" "$name" "$secs" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
name, secs = sys.argv[2], int(sys.argv[3])
def at(t):
    return next((r for r in rows if r['t'] >= t), rows[-1])
start = at(5.5)
a, b = at(15.5), at(15.5 + secs)
dt = max(b['t'] - a['t'], 1e-9)
c2s = (b['client_to_server'] - a['client_to_server']) / dt
s2c = (b['server_to_client'] - a['server_to_client']) / dt
print(f"{name:34} start {start['client_to_server']/1024:7.1f} KB   steady {c2s/1024:6.2f} KB/s to the server, {s2c:7.1f} B/s back")
PY
}

measure "meshscope node window, 1 Hz" "$SECS" "$BIN" view --source "$SRC" --node pulsar-0 --no-overview --interval 1s
measure "meshscope node window, 10 Hz" "$SECS" "$BIN" view --source "$SRC" --node pulsar-0 --no-overview --interval 100ms
measure "xosview (defaults)" "$SECS" xosview
measure "meshscope overview, 1 Hz" "$SECS" "$BIN" view --source "$SRC" --interval 1s

# 50 node windows at 1 Hz: the viewer's CPU over SECS seconds after 15 s of warm-up.
DISPLAY=":$XN" "$BIN" view --source "$SRC" --all-nodes --no-overview --interval 1s >/dev/null 2>"$WORK/v50.log" &
V=$!
sleep 15
cpu() { awk '{print $14 + $15}' "/proc/$V/stat"; }
c0=$(cpu); t0=$(date +%s.%N)
sleep "$SECS"
c1=$(cpu); t1=$(date +%s.%N)
kill "$V" 2>/dev/null || true
python3 -c "import os; hz=os.sysconf('SC_CLK_TCK'); print(f'meshscope, 50 node windows at 1 Hz:  {($c1-$c0)/hz/($t1-$t0)*100:.2f}% of one core')"
