#!/usr/bin/env bash
# End-to-end latency of the X11 viewer: how long after a simulated node fails its
# overview circle turns red. The simulated kafka-0 fails at minute 20 and 50 of every
# hour (UTC) for 4 minutes; the script waits for the next failure (up to 30 minutes),
# then reports when the collector's `up` turned 0, when the mesh model's
# node:mesh_up:max did (rules every 15 s), and when the viewer drew it (screenshots of the
# overview every 250 ms). Not part of the test command.
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
DISPLAY=":$XN" "$BIN" view --source "$SRC" --interval 1s >/dev/null 2>"$WORK/v.log" &
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
def red_pixels():
    wid = subprocess.run(['xwininfo', '-display', f':{xn}', '-name', 'meshscope: mesh overview'],
                         capture_output=True, text=True).stdout
    wid = [l.split()[3] for l in wid.splitlines() if 'Window id' in l][0]
    data = subprocess.run(['xwd', '-silent', '-id', wid], env={'DISPLAY': f':{xn}'}, capture_output=True).stdout
    h = struct.unpack('>25I', data[:100])
    off = h[0] + h[19] * 12
    px = data[off:]
    return sum(1 for i in range(0, len(px) - 3, 4) if px[i] == 0x50 and px[i+1] == 0x53 and px[i+2] == 0xef)
while time.time() < t_fail - 3:
    time.sleep(1)
seen = {}
while time.time() < t_fail + 60 and len(seen) < 3:
    t = time.time()
    if 'up' not in seen and 0.0 in q('up{node="kafka-0"}'):
        seen['up'] = t
    if 'model' not in seen and 0.0 in q('node:mesh_up:max{node="kafka-0"}'):
        seen['model'] = t
    if 'viewer' not in seen and red_pixels() > 50:
        seen['viewer'] = t
    time.sleep(0.25)
for k in ('up', 'model', 'viewer'):
    v = seen.get(k)
    print(f"{k:>7}: {'not within 60 s' if v is None else f'{v - t_fail:5.1f} s after the failure'}")
PY
