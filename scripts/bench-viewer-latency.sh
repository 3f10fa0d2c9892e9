#!/usr/bin/env bash
# End-to-end latency of the X11 viewer. The simulated kafka-0 fails at minute 20 and 50
# of every hour (UTC) for 4 minutes (its scrapes fail, its traffic stops); the script
# waits for the next failure (up to 30 minutes), then reports when the collector's `up`
# turned 0, when the mesh model's node:mesh_up:max did (the model follows the scrapes)
# and when the overview drew kafka-0 red; 4 minutes later, when it comes back, when its
# message rate was in the model again and when its node window showed it (the label
# "in 1.23 k msg/s", counted in pixels of the series colour; screenshots every 250 ms).
# Scrape and viewer intervals are 1 s. Not part of the test command.
#
#   bash scripts/bench-viewer-latency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v Xvfb >/dev/null && command -v xwd >/dev/null || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y -q --no-install-recommends xvfb x11-apps >/dev/null
}
cargo build --release -q
BIN="$PWD/target/release/meshscope"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
. scripts/bench-lib.sh
XN=$(free_display)
Xvfb ":$XN" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
start_mesh 8 1s
MP="${SRC##*:}"
sleep 3
DISPLAY=":$XN" "$BIN" view --source "$SRC" --interval 1s --node kafka-0 >/dev/null 2>"$WORK/v.log" &
python3 - "$XN" "$MP" <<'PY'
import json, struct, subprocess, sys, time, urllib.request
xn, mp = sys.argv[1], sys.argv[2]
now = time.time()
# Failures start at minute 20 and 50 of each hour (the simulator's origin is midnight UTC).
t_fail = (now // 1800) * 1800 + 1200
if t_fail <= now + 20:
    t_fail += 1800
print(f"waiting {t_fail - now:.0f} s for kafka-0 to fail", file=sys.stderr)
def q(expr):
    u = f"http://127.0.0.1:{mp}/api/v1/query?" + urllib.parse.urlencode({'query': expr})
    r = json.load(urllib.request.urlopen(u))
    return [float(x['value'][1]) for x in r['data']['result']]
import urllib.parse
def shot(name):
    wid = subprocess.run(['xwininfo', '-display', f':{xn}', '-name', name],
                         capture_output=True, text=True).stdout
    wid = [l.split()[3] for l in wid.splitlines() if 'Window id' in l][0]
    data = subprocess.run(['xwd', '-silent', '-id', wid], env={'DISPLAY': f':{xn}'}, capture_output=True).stdout
    h = struct.unpack('>25I', data[:100])
    return data[h[0] + h[19] * 12:], h[12]  # pixels (B, G, R, x), bytes per line
def red_pixels():
    px, _ = shot('meshscope: mesh overview')
    return sum(1 for i in range(0, len(px) - 3, 4) if px[i] == 0x50 and px[i+1] == 0x53 and px[i+2] == 0xef)
def label_band():
    # The first chart's label row (messages in) is the first row with the series colour
    # 0x4fc3f7: the pixels of that colour in the 12 rows from there.
    px, bpl = shot('meshscope: kafka-0 (kafka)')
    rows = [[i - r for i in range(r, r + bpl - 3, 4) if px[i] == 0xf7 and px[i+1] == 0xc3 and px[i+2] == 0x4f]
            for r in range(0, len(px) - bpl + 1, bpl)]
    first = next((y for y, c in enumerate(rows) if len(c) >= 2), None)
    return [] if first is None else rows[first:first + 12]
def rate_label_pixels():
    return sum(len(r) for r in label_band())
def rate_label_sig():
    return tuple(tuple(r) for r in label_band())
while time.time() < t_fail - 3:
    base = rate_label_pixels()
    rate0 = max(q('node:mesh_messages_in:irate1m{node="kafka-0"}') or [0.0])
    time.sleep(1)
print(f"before the failure: {rate0:.0f} msg/s, its rate label {base} pixels", file=sys.stderr)
def watch(t0, checks):
    seen = {}
    while time.time() < t0 + 60 and len(seen) < len(checks):
        t = time.time()
        for what, ok in checks.items():
            if what not in seen and ok():
                seen[what] = t
        time.sleep(0.25)
    for what in checks:
        v = seen.get(what)
        print(f"{what:>48}: {'not within 60 s' if v is None else f'{v - t0:5.1f} s'}")
print("kafka-0 fails (its scrapes fail, its traffic stops):")
watch(t_fail, {
    "up = 0 in the collector": lambda: 0.0 in q('up{node="kafka-0"}'),
    "node:mesh_up:max = 0": lambda: 0.0 in q('node:mesh_up:max{node="kafka-0"}'),
    "the overview shows it red": lambda: red_pixels() > 50,
})
# Back after 4 minutes: its message rate steps from nothing to its full rate (irate()
# needs two scrapes after the recovery; the minute before holds none of the old ones).
# The window "shows it" when the rate label's pixels differ from the steady picture
# they had while the node was down.
t_back = t_fail + 240
while time.time() < t_back - 4:
    time.sleep(1)
down_sig = rate_label_sig()
time.sleep(2)
steady = rate_label_sig() == down_sig
print(f"kafka-0 comes back (its rate label {'steady' if steady else 'NOT steady'} while down):")
watch(t_back, {
    "up = 1 in the collector": lambda: 1.0 in q('up{node="kafka-0"}'),
    "the model's message rate is back (> 50 %)": lambda: max(q('node:mesh_messages_in:irate1m{node="kafka-0"}') or [0.0]) > 0.5 * rate0,
    "its window shows the rate again": lambda: rate_label_sig() != down_sig,
})
PY
