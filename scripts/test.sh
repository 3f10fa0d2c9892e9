#!/usr/bin/env bash
# The project's test command: installs what the tests need when it is missing, then runs
# the whole suite. README.md gives this command; .ci/run calls exactly it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real components (node_exporter, RabbitMQ, Prometheus, ...) are installed here with
# apt-get when the tests that drive them land; the suite needs none of them yet.

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
