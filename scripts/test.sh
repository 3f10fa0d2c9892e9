#!/usr/bin/env bash
# The project's test command: installs what the tests need when it is missing, then runs
# the whole suite. README.md gives this command; .ci/run calls exactly it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real components the tests drive (Debian packages): node_exporter and RabbitMQ with its
# Prometheus plugin. Installed only when missing.
need=()
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
command -v rabbitmq-server >/dev/null || need+=(rabbitmq-server)
if [ ${#need[@]} -gt 0 ]; then
    echo "Installing ${need[*]} ..." >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
        || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi
# With the components installed, their tests must run: a missing one is a failure.
export MESHSCOPE_REAL_COMPONENTS=required

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
