#!/usr/bin/env bash
# Run every fuzz target for a while (default 60 s each). Needs cargo-fuzz
# (`cargo install cargo-fuzz`); the stable toolchain builds it with RUSTC_BOOTSTRAP=1.
# Each target starts from seeds thousands of levels deep (scripts/fuzz-seeds.py), and
# promql_grammar builds deep PromQL trees of its own; inputs may be up to 2 MiB.
# Not part of the test command: a script, like the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
python3 ../scripts/fuzz-seeds.py . >/dev/null
failed=0
for t in $(cargo fuzz list); do
    echo "== $t (${secs}s)"
    mkdir -p "corpus/$t"
    if ! cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 \
        -max_len=2097152 -timeout=30 > "/tmp/meshscope-fuzz-$t.log" 2>&1; then
        failed=1
    fi
    grep -E "^(#[0-9]+ +DONE|==[0-9]+== ERROR|SUMMARY|Done)|deadly signal|panicked" "/tmp/meshscope-fuzz-$t.log" | head -5 || true
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz: a target found a crash (artifacts in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: no crash"
