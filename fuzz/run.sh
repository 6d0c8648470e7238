#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each and prints one line per target:
# its executions and the crashes it found. Exits 1 when any target crashed
# (or could not run), 2 on a usage error.
#
#   bash fuzz/run.sh SECONDS
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install --locked
# cargo-fuzz`). The targets are built once, with debug assertions (overflow
# checks included) and AddressSanitizer. Each target starts from its
# committed seeds (fuzz/corpus/TARGET, never written to) and from what
# earlier runs found (fuzz/target/corpus/TARGET, kept between runs). A crash
# leaves its input in fuzz/artifacts/TARGET/ (reproduce it with
# `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-…`), and each
# target's libFuzzer log is in fuzz/target/logs/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-}"
if [[ ! "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: bash fuzz/run.sh SECONDS   (how long each target runs)" >&2
    exit 2
fi

fuzz=(cargo +nightly fuzz)
build=(--debug-assertions)
logs=fuzz/target/logs
found=fuzz/target/corpus
mkdir -p "$logs" "$found"

if ! "${fuzz[@]}" build "${build[@]}" >"$logs/build.log" 2>&1; then
    tail -n 40 "$logs/build.log" >&2
    echo "fuzz/run.sh: the fuzz targets did not build (log: $logs/build.log)" >&2
    exit 1
fi

failed=0
for target in $("${fuzz[@]}" list); do
    mkdir -p "$found/$target" "fuzz/artifacts/$target"
    log="$logs/$target.log"
    started="$logs/$target.started"
    touch "$started"
    status=0
    # The first corpus folder is where libFuzzer writes what it finds; the
    # committed seeds come second, read only.
    "${fuzz[@]}" run "${build[@]}" "$target" "$found/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=25 -rss_limit_mb=4096 \
        >"$log" 2>&1 || status=$?
    executions=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    inputs=$(find "fuzz/artifacts/$target" -type f -newer "$started")
    crashes=$(grep -c . <<<"$inputs" || true)
    rm -f "$started"
    printf '%-22s %12s executions %4d crashes\n' "$target" "${executions:-?}" "$crashes"
    if [[ "$status" -ne 0 || "$crashes" -ne 0 || -z "$executions" ]]; then
        failed=1
        echo "--- $target: exit status $status; its log ($log) ends:" >&2
        tail -n 30 "$log" >&2
        [[ -z "$inputs" ]] || sed 's/^/    input: /' <<<"$inputs" >&2
    fi
done
exit "$failed"
