#!/usr/bin/env bash
# Soak test of gort's example servers (not run by CI): minutes of steady load per
# server, looking for what a short benchmark cannot show: memory that grows,
# requests that start failing, a server that dies.
#
#   scripts/soak.sh [redis|http|all]     (default: all)
#
#   redis  examples/mini_redis under redis-benchmark: back-to-back batches of
#          `-c REDIS_CONNS -n REDIS_REQUESTS -r REDIS_KEYS -d REDIS_VALUE -t REDIS_TESTS`
#          (every batch reconnects its clients, so connection goroutines come and go)
#   http   examples/http_hello under wrk: one `wrk -tWRK_THREADS -cWRK_CONNS -d60s` run per
#          minute (keep-alive; each run opens and closes its connections)
#
# Each server runs for SOAK_MINUTES minutes. Per minute the script prints the requests/s
# of that minute and the server's resident memory (VmRSS from /proc/PID/status, sampled
# every second while the load runs: the largest sample of the minute, and the one at its
# end). At the end of each server's run: total requests, errors (redis-benchmark: error
# replies, connection errors, failed or timed-out batches; wrk: non-2xx/3xx responses and
# socket errors), RSS after warm-up (minute 1) against the last minute, and a verdict:
#   PASS  no request errors, the server stayed up and still answers, and the peak RSS of
#         every minute after the first is at most 10 % above minute 1's
#   FAIL  otherwise (the reason is printed)
# The exit status is 1 if any server failed, 0 if all passed (2: usage, missing tools).
#
# RSS growth is not always a leak: glibc gives each thread that allocates its own malloc
# arena, goroutines (and the buffers they allocate and free) move between gort's threads,
# and memory freed into one arena is not reused by another. To tell the two apart, run
# again with MALLOC_ARENA_MAX=1 in the environment (the servers inherit it): growth that
# goes away is the allocator's, growth that stays is memory that something holds.
#
# Servers are started as benches/net.sh starts them (scripts/servers.sh): fresh, on a
# free port of 127.0.0.1 (from BASE_PORT up), `--addr 127.0.0.1:PORT --procs PROCS`, and
# the first stdout line must be "listening on ADDR". All traffic stays on the loopback interface. The machine
# has 2 cores and the load generator shares them with the server, so req/s are those of
# an overcommitted machine; what matters here is their trend, and memory.
#
# Environment (defaults in brackets):
#   SOAK_MINUTES [10]  PROCS [2]  BASE_PORT [17200]
#   redis: REDIS_CONNS [100]  REDIS_REQUESTS [100000] (per test, per batch)
#          REDIS_KEYS [100000]  REDIS_VALUE [64]  REDIS_TESTS [ping,set,get,incr]
#   http:  WRK_THREADS [2]  WRK_CONNS [256]  WRK_TIMEOUT [2s] (wrk counts a slower
#          response as a timeout error)
#   RSS_SLACK [10]  allowed RSS growth after minute 1, in percent
#   GORT_EXAMPLES  a directory with already built http_hello and mini_redis (otherwise
#                  they are built with `cargo build --release`, honouring CARGO_TARGET_DIR)
# Tools: redis-benchmark (apt-get install redis-tools), wrk (apt-get install wrk); the
# script installs them with apt-get when missing and it can (root, or sudo -n).
#
# Output: stdout, and target/soak/report.txt; raw outputs and server logs in
# target/soak/raw/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHAT=${1:-all}
SOAK_MINUTES=${SOAK_MINUTES:-10}
PROCS=${PROCS:-2}
BASE_PORT=${BASE_PORT:-17200}
REDIS_CONNS=${REDIS_CONNS:-100}
REDIS_REQUESTS=${REDIS_REQUESTS:-100000}
REDIS_KEYS=${REDIS_KEYS:-100000}
REDIS_VALUE=${REDIS_VALUE:-64}
REDIS_TESTS=${REDIS_TESTS:-ping,set,get,incr}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-256}
WRK_TIMEOUT=${WRK_TIMEOUT:-2s}
RSS_SLACK=${RSS_SLACK:-10}

OUT="$ROOT/target/soak"
RAW="$OUT/raw"
REPORT="$OUT/report.txt"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

case "$WHAT" in
    redis | http | all) ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d'
        exit 0
        ;;
    *)
        echo "usage: scripts/soak.sh [redis|http|all]" >&2
        exit 2
        ;;
esac
[[ $SOAK_MINUTES =~ ^[1-9][0-9]*$ ]] || {
    echo "SOAK_MINUTES must be a positive integer, got '$SOAK_MINUTES'" >&2
    exit 2
}

log() { echo "soak: $*" >&2; }
# Report lines go to stdout and to report.txt.
say() { printf '%s\n' "$@" | tee -a "$REPORT"; }

# ---------------------------------------------------------------- servers

# shellcheck source=scripts/servers.sh
. "$ROOT/scripts/servers.sh"

# start_server NAME: starts examples/NAME on a free loopback port and waits (10 s at most)
# for its "listening on ADDR" line; sets SRV_PID, SRV_ADDR, SRV_LOG.
start_server() {
    local name=$1
    free_port
    launch_server "$name" "$RAW/$name" "" "$BIN/$name" --addr "127.0.0.1:$PORT" --procs "$PROCS" ||
        return 1
    log "$name listening on $SRV_ADDR, pid $SRV_PID"
}

# RSS sampler: one "epoch_ms rss_kib" line per second while the server lives.
start_sampler() {
    local pid=$1 file=$2 t kib
    (
        while [ -r "/proc/$pid/status" ]; do
            t=$(now_ms)
            kib=$(status_kib "$pid" VmRSS) && [ -n "$kib" ] && echo "$t $kib"
            sleep 1
        done
    ) >"$file" &
    SAMPLER_PID=$!
    PIDS+=("$SAMPLER_PID")
}
stop_sampler() {
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
}
now_ms() { date +%s%3N; }
rss_now() { status_kib "$SRV_PID" VmRSS || echo 0; }
# rss_window FILE FROM_MS TO_MS: "max last" of the samples in the window (KiB), or the
# current RSS twice if the window holds none.
rss_window() {
    awk -v a="$2" -v b="$3" -v now="$(rss_now)" '$1 >= a && $1 <= b {if ($2 > m) m = $2; l = $2}
        END {if (m == "") print now, now; else print m, l}' "$1"
}
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# ------------------------------------------------------------------------- tools, build

ensure_tool() {
    local tool=$1 pkg=$2 sudo=""
    command -v "$tool" >/dev/null 2>&1 && return 0
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    log "$tool is missing: apt-get install $pkg"
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq "$pkg"; } >/dev/null 2>&1 || true
    command -v "$tool" >/dev/null 2>&1 || {
        log "could not install $pkg; install it and run again"
        exit 2
    }
}

build() {
    rm -rf "$RAW"
    mkdir -p "$RAW"
    local src=${GORT_EXAMPLES:-$TARGET/release/examples} missing
    if [ -z "${GORT_EXAMPLES:-}" ]; then
        log "building the examples (cargo build --release --example mini_redis --example http_hello)"
        (cd "$ROOT" && cargo build --release --example mini_redis --example http_hello) \
            >"$RAW/build.log" 2>&1 || {
            tail -n 30 "$RAW/build.log" >&2
            log "the examples do not build"
            exit 2
        }
    fi
    BIN="$OUT/bin"
    missing=$(copy_binaries "$src" "$BIN" mini_redis http_hello) || {
        log "missing in $src: $missing"
        exit 2
    }
}

# ---------------------------------------------------------------------------- report

# Per-minute rows are "minute seconds requests errors rss_max_kib rss_end_kib".
# verdict NAME ROWS_FILE TOTAL_ERRORS ALIVE: prints the summary, returns 1 on FAIL.
verdict() {
    local name=$1 rows=$2 errors=$3 alive=$4 total warm last worst why=()
    total=$(awk '{s += $3} END {print s + 0}' "$rows")
    warm=$(awk 'NR == 1 {print $5}' "$rows")
    last=$(awk 'END {print $5}' "$rows")
    worst=$(awk 'NR > 1 && $5 > m {m = $5} END {print m + 0}' "$rows")
    say "" "$name summary:"
    say "  total requests:      $total in $(awk '{s += $2} END {printf "%.0f", s}' "$rows") s"
    say "  errors:              $errors"
    say "  RSS after warm-up:   $(mib "$warm") MiB (peak of minute 1)"
    say "  RSS in last minute:  $(mib "$last") MiB (peak), $(awk -v a="$warm" -v b="$last" \
        'BEGIN {printf "%+.1f", 100 * (b - a) / a}') % against minute 1"
    if [ "$(wc -l <"$rows")" -gt 1 ]; then
        say "  largest later peak:  $(mib "$worst") MiB, $(awk -v a="$warm" -v b="$worst" \
            'BEGIN {printf "%+.1f", 100 * (b - a) / a}') % against minute 1"
    fi
    [ "$errors" = 0 ] || why+=("$errors request errors")
    [ "$alive" = 1 ] || why+=("the server died or stopped answering")
    awk -v a="$warm" -v b="$worst" -v s="$RSS_SLACK" 'BEGIN {exit !(b > a * (1 + s / 100))}' &&
        why+=("RSS grew more than $RSS_SLACK % after warm-up")
    if [ ${#why[@]} = 0 ]; then
        say "  $name: PASS (RSS within $RSS_SLACK % of minute 1, no request errors)"
    else
        say "  $name: FAIL ($(
            IFS=';'
            echo "${why[*]}"
        ))"
        [ "${#why[@]}" -gt 1 ] || [ "$errors" != 0 ] || [ "$alive" != 1 ] ||
            [ -n "${MALLOC_ARENA_MAX:-}" ] ||
            say "  (RSS only: see whether MALLOC_ARENA_MAX=1 scripts/soak.sh makes it go away)"
        return 1
    fi
}

row() {
    say "$(printf '  %6s %8s %12s %10s %10s %12s %12s' "$@")"
}
header_row() {
    row minute seconds requests req/s errors "RSS max MiB" "RSS end MiB"
}
print_row() { # minute seconds requests errors rss_max rss_end
    row "$1" "$2" "$3" "$(awk -v n="$3" -v s="$2" 'BEGIN {printf "%.0f", (s > 0 ? n / s : 0)}')" \
        "$4" "$(mib "$5")" "$(mib "$6")"
}

# Anything a server wrote to stderr is worth a look.
server_stderr() {
    if [ -s "$SRV_LOG.err" ]; then
        say "  server stderr ($(wc -l <"$SRV_LOG.err") lines, $SRV_LOG.err), first lines:"
        head -n 5 "$SRV_LOG.err" | cut -c1-200 | sed 's/^/    /' | tee -a "$REPORT"
    fi
}

# ------------------------------------------------------------------------------ soak

# run_soak NAME TAG LOAD CHECK ALIVE: soaks the started server for SOAK_MINUTES minutes
# with one call of the function LOAD MINUTE per minute (it sets REQS and ERRS, that
# minute's requests and errors), sampling its RSS into RAW/TAG.rss and writing the rows
# to RAW/TAG.rows. Afterwards the function CHECK must find the server still answering,
# unless ALIVE is already 0. Stops the server; prints the rows and the verdict, and
# fails on FAIL.
run_soak() {
    local name=$1 tag=$2 load=$3 check=$4 alive=$5 m t0 t1 secs rmax rend errors=0
    local samples="$RAW/$tag.rss" rows="$RAW/$tag.rows"
    : >"$rows"
    start_sampler "$SRV_PID" "$samples"
    header_row
    for ((m = 1; m <= SOAK_MINUTES; m++)); do
        t0=$(now_ms)
        "$load" "$m"
        t1=$(now_ms)
        read -r rmax rend < <(rss_window "$samples" "$t0" "$t1")
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1000}')
        echo "$m $secs $REQS $ERRS $rmax $rend" >>"$rows"
        print_row "$m" "$secs" "$REQS" "$ERRS" "$rmax" "$rend"
        errors=$((errors + ERRS))
        kill -0 "$SRV_PID" 2>/dev/null || {
            log "$name died during minute $m"
            alive=0
            break
        }
    done
    [ "$alive" = 0 ] || "$check" || {
        log "$name does not answer after the soak ($check failed)"
        alive=0
    }
    stop_sampler
    terminate "$SRV_PID"
    server_stderr
    verdict "$name" "$rows" "$errors" "$alive"
}

# ----------------------------------------------------------------------------- redis

# A PING over a plain socket: the server still answers.
# shellcheck disable=SC2317 # called by run_soak
redis_ping() {
    local reply
    # shellcheck disable=SC2016 # expanded by the inner shell
    reply=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && printf "PING\r\n" >&3 &&
        timeout 2 head -c 7 <&3' "${SRV_ADDR##*:}" 2>/dev/null || true)
    [[ $reply == "+PONG"* ]]
}

# redis_minute MINUTE: back-to-back redis-benchmark batches for a minute; sets REQS, ERRS.
# shellcheck disable=SC2317 # called by run_soak
redis_minute() {
    local m=$1 end b=0 f rc n e
    REQS=0 ERRS=0
    end=$(($(now_ms) + 60000))
    # Batches start while the minute lasts; the last one may run a few seconds over.
    while [ "$(now_ms)" -lt "$end" ]; do
        b=$((b + 1))
        f="$RAW/redis-m$m-b$b"
        rc=0
        timeout -k 5 120 redis-benchmark -h 127.0.0.1 -p "${SRV_ADDR##*:}" -c "$REDIS_CONNS" \
            -n "$REDIS_REQUESTS" -r "$REDIS_KEYS" -d "$REDIS_VALUE" -t "$REDIS_TESTS" \
            --csv >"$f.csv" 2>"$f.err" || rc=$?
        # One CSV row per completed test, each of REDIS_REQUESTS requests.
        n=$(grep -c '^"[A-Z_]*","[0-9.]*"' "$f.csv" || true)
        REQS=$((REQS + n * REDIS_REQUESTS))
        # redis-benchmark reports error replies (at most one a second) and connection
        # errors on stderr; a failed or timed-out batch counts as one error at least.
        e=$(grep -ci 'error' "$f.err" || true)
        [ "$rc" = 0 ] || { [ "$e" -gt 0 ] || e=1; }
        if [ "$e" -gt 0 ]; then
            log "minute $m batch $b: exit $rc, $(head -n 3 "$f.err" | tr '\n' ' ')"
        else
            rm -f "$f.csv" "$f.err"
        fi
        ERRS=$((ERRS + e))
        kill -0 "$SRV_PID" 2>/dev/null || break
    done
}

soak_redis() {
    ensure_tool redis-benchmark redis-tools
    say "" "== mini_redis under redis-benchmark: $SOAK_MINUTES min, -c $REDIS_CONNS -n $REDIS_REQUESTS \
-r $REDIS_KEYS -d $REDIS_VALUE -t $REDIS_TESTS per batch, --procs $PROCS"
    start_server mini_redis || return 1
    run_soak mini_redis redis redis_minute redis_ping 1
}

# ------------------------------------------------------------------------------ http

# A single request over a plain socket: status 200 and the body.
http_check() { hello_ok 127.0.0.1 "${SRV_ADDR##*:}"; }

# http_minute MINUTE: one 60-s wrk run; sets REQS and ERRS.
# shellcheck disable=SC2317 # called by run_soak
http_minute() {
    local m=$1 f="$RAW/http-m$1.wrk" rc=0
    timeout -k 5 100 wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d60s --timeout "$WRK_TIMEOUT" \
        "http://$SRV_ADDR/" >"$f" 2>&1 || rc=$?
    # "N requests in 1.00m, ...".
    REQS=$(awk '/ requests in / {print $1; exit}' "$f")
    ERRS=$(wrk_errors "$f")
    if [ -z "$REQS" ] || [ "$rc" != 0 ]; then
        log "minute $m: wrk exited with $rc; output:"
        cat "$f" >&2
        ERRS=$((ERRS + 1))
        REQS=${REQS:-0}
    fi
    [ "$ERRS" = 0 ] || log "minute $m: $(grep -E 'Socket errors|Non-2xx' "$f" | tr -s ' ' | tr '\n' ' ')"
}

soak_http() {
    ensure_tool wrk wrk
    say "" "== http_hello under wrk: $SOAK_MINUTES min, one wrk -t$WRK_THREADS -c$WRK_CONNS -d60s \
--timeout $WRK_TIMEOUT per minute, --procs $PROCS"
    start_server http_hello || return 1
    local alive=1
    http_check || {
        log "http_hello does not answer 200 'Hello, World!' at http://$SRV_ADDR/"
        alive=0
    }
    run_soak http_hello http http_minute http_check "$alive"
}

# ------------------------------------------------------------------------------ main

mkdir -p "$OUT"
: >"$REPORT"
build
say "gort soak: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), $SOAK_MINUTES min per server"
say "(req/s of each minute; RSS: the server's VmRSS, largest 1-s sample of the minute and the last)"
status=0
case "$WHAT" in
    redis) soak_redis || status=1 ;;
    http) soak_http || status=1 ;;
    all)
        soak_redis || status=1
        soak_http || status=1
        ;;
esac
say "" "overall: $([ "$status" = 0 ] && echo PASS || echo FAIL)"
exit "$status"
