#!/usr/bin/env bash
# Run every fuzz target for a while (default 60 s each). Needs cargo-fuzz
# (`cargo install cargo-fuzz`); the stable toolchain builds it with RUSTC_BOOTSTRAP=1.
# Not part of the test command: a script, like the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for t in $(cargo fuzz list); do
    echo "== $t (${secs}s)"
    mkdir -p "corpus/$t"
    cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 \
        | grep -E "^(#[0-9]+ +DONE|==[0-9]+== ERROR|SUMMARY|Done)" || true
done
