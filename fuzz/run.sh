#!/usr/bin/env bash
# Runs gort's fuzz targets one after the other (libFuzzer through cargo-fuzz, nightly)
# and prints, per target, the runs executed, the coverage reached and the crashes found.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     # default: 600 s each for resp, http and env
#
# Corpora grow in fuzz/corpus/<target> (seeded from fuzz/seeds/<target>), crashing
# inputs land in fuzz/artifacts/<target>, full logs in fuzz/logs. Not part of CI: it
# takes minutes per target and needs nightly.
set -euo pipefail

cd "$(dirname "$0")"
SECONDS_EACH=${1:-600}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(resp http env)

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo +nightly install cargo-fuzz --locked
fi

# Inputs are small: no single allocation of a correct parser comes near 64 MiB, so a
# larger one means a size was taken from the input.
COMMON=(-max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -malloc_limit_mb=64 -print_final_stats=1)

extra_args() {
    case "$1" in
        # Long enough to cross the 64 KiB inline-command limit.
        resp) echo "-max_len=70000" ;;
        # Long enough to cross the 8 KiB request-head limit.
        http) echo "-max_len=12000" ;;
        env) echo "-max_len=512 -dict=env.dict" ;;
    esac
}

mkdir -p logs
summary=()
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
    before=$(find "artifacts/$t" -type f | wc -l)
    log="logs/$t.log"
    echo "== $t: ${SECONDS_EACH}s, log in fuzz/$log" >&2
    # shellcheck disable=SC2046 # extra_args is a word list on purpose
    if cargo +nightly fuzz run "$t" "corpus/$t" -- "${COMMON[@]}" $(extra_args "$t") >"$log" 2>&1; then
        status=ok
    else
        status="exit $?"
    fi
    after=$(find "artifacts/$t" -type f | wc -l)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
    corp=$(grep -o 'corp: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    summary+=("$(printf '%-5s runs=%s secs=%s exec/s=%s cov=%s ft=%s corpus=%s crashes=%s (%s)' \
        "$t" "${runs:-?}" "${secs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" \
        "$((after - before))" "$status")")
    echo "${summary[-1]}"
done

echo
echo "summary:"
printf '  %s\n' "${summary[@]}"
