#!/usr/bin/env bash
# Terminal dashboard benchmark: with 100 simulated nodes, `meshscope view --tui` runs in a
# pseudo-terminal of 200x60 at 1 Hz; prints the terminal output per second and the CPU
# share over SECONDS after 15 s of warm-up. (Frame render time: `cargo bench -p
# meshscope-viewer --bench tui`.) Not part of the test command.
#
#   bash scripts/bench-tui.sh [SECONDS=60]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-60}"
cargo build --release -q
BIN="$PWD/target/release/meshscope"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
. scripts/bench-lib.sh
start_mesh 100 5s --no-failures
wait_model 100
python3 - "$BIN" "$SRC" "$SECS" <<'PY'
import fcntl, os, pty, select, struct, sys, termios, time
binary, src, secs = sys.argv[1], sys.argv[2], int(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    env = dict(os.environ, TERM='xterm-256color')
    env.pop('DISPLAY', None)
    os.execve(binary, [binary, 'view', '--tui', '--source', src, '--interval', '1s'], env)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 60, 200, 0, 0))
def cpu():
    f = open(f'/proc/{pid}/stat').read().split(')')[-1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK')
total, t0 = 0, time.time()
mark = None
while True:
    now = time.time()
    if mark is None and now - t0 >= 15:
        mark = (now, total, cpu())
    if mark and now - mark[0] >= secs:
        break
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            total += len(os.read(fd, 65536))
        except OSError:
            break
t1, c1 = time.time(), cpu()
os.write(fd, b'q')
time.sleep(1)
dt = t1 - mark[0]
print(f"terminal output at 1 Hz, 100 nodes, 200x60: {(total - mark[1]) / dt / 1024:.2f} KB/s; CPU {(c1 - mark[2]) / dt * 100:.2f}% of one core")
PY
