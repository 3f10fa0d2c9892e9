#!/usr/bin/env bash
# End-to-end latency of the X11 viewer, scrape and viewer intervals 1 s, on an 8-node
# simulated mesh, screenshots every 250 ms:
#  1. traffic: pulsar-0's traffic stops at a moment of the script's choosing (the
#     simulator's POST /node/pulsar-0/load?factor=0); when the model's message rate
#     (node:mesh_messages_in:irate1m) shows it, and when pulsar-0's window does (its label
#     "in 301 msg/s" becomes "in 0 msg/s": the pixels of the series colour in the
#     label's rows fall);
#  2. health: the simulated kafka-0 fails at minute 20 and 50 of every hour (UTC); the
#     script waits for the next failure (up to 30 minutes): when `up` turned 0, when the
#     model's node:mesh_up:max did, and when the overview drew kafka-0 red.
# Not part of the test command.
#
#   bash scripts/bench-viewer-latency.sh
#   RUNS=5 FAILURE=no bash scripts/bench-viewer-latency.sh   # the traffic stop 5 times, no wait
set -euo pipefail
cd "$(dirname "$0")/.."
command -v Xvfb >/dev/null && command -v xwd >/dev/null && command -v xdotool >/dev/null || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y -q --no-install-recommends xvfb x11-apps xdotool >/dev/null
}
cargo build --release -q
BIN="$PWD/target/release/meshscope"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
. scripts/bench-lib.sh
XN=$(free_display)
Xvfb ":$XN" -screen 0 2600x1000x24 -nolisten tcp >/dev/null 2>&1 &
start_mesh 8 1s
MP="${SRC##*:}"
sleep 3
DISPLAY=":$XN" "$BIN" view --source "$SRC" --interval 1s --node pulsar-0 >/dev/null 2>"$WORK/v.log" &
python3 - "$XN" "$MP" "$SIM" "${RUNS:-1}" "${FAILURE:-yes}" <<'PY'
import json, struct, subprocess, sys, time, urllib.request
xn, mp, sim, runs, failure = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
time.sleep(20)
# No window manager places the windows: both open at 0,0 and the node window would cover
# the overview's graph. Move it to the right of the overview.
ov = subprocess.run(['xdotool', 'search', '--name', 'meshscope: mesh overview', 'getwindowgeometry', '--shell'],
                    env={'DISPLAY': f':{xn}'}, capture_output=True, text=True).stdout
width = int(dict(l.split('=') for l in ov.split() if '=' in l).get('WIDTH', 1280))
subprocess.run(['xdotool', 'search', '--name', 'meshscope: pulsar-0', 'windowmove', str(width + 10), '0'],
               env={'DISPLAY': f':{xn}'}, check=True)
time.sleep(1)
now = time.time()
# Failures start at minute 20 and 50 of each hour (the simulator's origin is midnight UTC).
t_fail = (now // 1800) * 1800 + 1200
if t_fail <= now + 20:
    t_fail += 1800
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
def rate_label_pixels():
    # The first chart's label (messages in) is the first run of rows with pixels of the
    # series colour 0x4fc3f7 (the chart itself starts a few rows below it).
    px, bpl = shot('meshscope: pulsar-0 (pulsar)')
    rows = [sum(1 for i in range(r, r + bpl - 3, 4) if px[i] == 0xf7 and px[i+1] == 0xc3 and px[i+2] == 0x4f)
            for r in range(0, len(px) - bpl + 1, bpl)]
    first = next((y for y, c in enumerate(rows) if c > 0), None)
    if first is None:
        return 0
    n = 0
    for c in rows[first:]:
        if c == 0:
            break
        n += c
    return n
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
def rate():
    return max(q('node:mesh_messages_in:irate1m{node="pulsar-0"}') or [float('nan')])
for run in range(runs):
    samples = []
    for _ in range(8):
        samples.append(rate_label_pixels())
        time.sleep(0.5)
    base = sorted(samples)[len(samples) // 2]
    rate0 = rate()
    # A random phase against the scrapes and the viewer's ticks.
    time.sleep(run * 0.37 % 1)
    t_step = time.time()
    urllib.request.urlopen(urllib.request.Request(f"{sim}/node/pulsar-0/load?factor=0", method="POST")).read()
    print(f"pulsar-0's traffic stops ({rate0:.0f} msg/s before, its rate label {base} pixels):")
    watch(t_step, {
        "the model's message rate is 0": lambda: rate() == 0.0,
        "its window shows it (label < 80 % of its pixels)": lambda: rate_label_pixels() < 0.8 * base,
    })
    urllib.request.urlopen(urllib.request.Request(f"{sim}/node/pulsar-0/load?factor=1", method="POST")).read()
    if run + 1 < runs:
        time.sleep(15)  # the rate comes back before the next look at its label
if failure != "yes":
    sys.exit(0)
if time.time() > t_fail - 3:
    t_fail += 1800
print(f"waiting {t_fail - time.time():.0f} s for kafka-0 to fail", file=sys.stderr)
while time.time() < t_fail - 3:
    time.sleep(1)
print("kafka-0 fails (its scrapes fail):")
watch(t_fail, {
    "up = 0 in the collector": lambda: 0.0 in q('up{node="kafka-0"}'),
    "node:mesh_up:max = 0": lambda: 0.0 in q('node:mesh_up:max{node="kafka-0"}'),
    "the overview shows it red": lambda: red_pixels() > 50,
})
PY
