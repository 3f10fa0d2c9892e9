#!/usr/bin/env bash
# The project's test command: installs what the tests need when it is missing, then runs
# the whole suite. README.md gives this command; .ci/run calls exactly it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the test suite drives for real (see ../shared/DESIGN.md). Installed from Debian's
# packages when missing; a machine without apt-get or network skips those tests loudly.
need_apt=()
command -v prometheus-node-exporter >/dev/null 2>&1 || need_apt+=(prometheus-node-exporter)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing ${need_apt[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "test.sh: cannot install ${need_apt[*]} (no apt-get or not root); tests that need them will be skipped" >&2
  fi
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
