#!/usr/bin/env bash
# Regenerates every figure of BENCHMARKS.md in one run on this machine:
# criterion benches with short settings (0.5 s warm-up, 2 s of samples per row;
# 1 s and 5 s for the loopback GETs), the refresh storm, and the memory of a
# validating server; then writes the tables into BENCHMARKS.md.
#
#   bash benches/run.sh            # about 13 minutes on 2 cores once built
#
# Only ratios between rows of one run mean anything on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never CARGO_INCREMENTAL=0
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
report="$target/bench-report"
export ERPNET_BENCH_REPORT_DIR="$report"

# Nothing from an earlier run may end up in the tables.
rm -rf "$target/criterion" "$report"
mkdir -p "$report"

echo "== build (release)"
cargo bench -p erpnet-auth --no-run
# Also builds the package's binaries (the memory probe, the report writer).
cargo bench -p erpnet-auth-bench-peers --no-run

echo "== token cache hit path, middleware, validation, layer (our crates)"
cargo bench -p erpnet-auth --bench token_cache
cargo bench -p erpnet-auth --bench middleware
cargo bench -p erpnet-auth --bench validation
cargo bench -p erpnet-auth --bench layer

echo "== peers: token cache, validation, refresh storm"
cargo bench -p erpnet-auth-bench-peers --bench token_cache_peers
cargo bench -p erpnet-auth-bench-peers --bench validation_peers
cargo bench -p erpnet-auth-bench-peers --bench refresh_storm

echo "== layer under load over loopback HTTP (bounded: 3 rounds of 3 s per row)"
"$target/release/layer_load" 3 3

echo "== ERP.net's session limits under load, paced and unpaced, and 10,000 token rotations (about 3 minutes)"
"$target/release/pacing_load" 20

echo "== memory: 100,000 distinct tokens through one validator"
probe="$target/release/validation_memory"
"$probe" mint "$report/tokens"
for capacity in 0 10000 100000; do
    "$probe" validate "$report/tokens" "$capacity"
done
rm -rf "$report/tokens"

echo "== tables"
"$target/release/bench_report" BENCHMARKS.md "$target" "bash benches/run.sh"
