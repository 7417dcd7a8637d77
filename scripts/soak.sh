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
# Servers are started as benches/net.sh starts them: fresh, on a free port of 127.0.0.1
# (from BASE_PORT up), `--addr 127.0.0.1:PORT --procs PROCS`, and the first stdout line
# must be "listening on ADDR". All traffic stays on the loopback interface. The machine
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

# ---------------------------------------------------------------- processes, clean-up

PIDS=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

NEXT_PORT=$BASE_PORT
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    while port_busy "$NEXT_PORT"; do NEXT_PORT=$((NEXT_PORT + 1)); done
    PORT=$NEXT_PORT
    NEXT_PORT=$((NEXT_PORT + 1))
}

# start_server NAME: starts examples/NAME on a free loopback port and waits (10 s at most)
# for its "listening on ADDR" line; sets SRV_PID, SRV_ADDR, SRV_LOG.
start_server() {
    local name=$1 i first
    free_port
    SRV_LOG="$RAW/$name"
    "$BIN/$name" --addr "127.0.0.1:$PORT" --procs "$PROCS" >"$SRV_LOG.out" 2>"$SRV_LOG.err" &
    SRV_PID=$!
    PIDS+=("$SRV_PID")
    SRV_ADDR=
    for ((i = 0; i < 200; i++)); do
        kill -0 "$SRV_PID" 2>/dev/null || {
            log "$name exited at start-up; stderr:"
            tail -n 20 "$SRV_LOG.err" >&2
            return 1
        }
        if [ -s "$SRV_LOG.out" ]; then
            first=$(head -n1 "$SRV_LOG.out")
            [[ $first == "listening on "* ]] || {
                log "$name: first stdout line is not 'listening on ADDR': $first"
                return 1
            }
            SRV_ADDR=${first#listening on }
            SRV_ADDR=${SRV_ADDR%% *}
            break
        fi
        sleep 0.05
    done
    [ -n "$SRV_ADDR" ] || {
        log "$name did not start listening within 10 s"
        return 1
    }
    case $SRV_ADDR in
        127.*) ;;
        *)
            log "$name listens on $SRV_ADDR, not on 127.0.0.1"
            return 1
            ;;
    esac
    log "$name listening on $SRV_ADDR, pid $SRV_PID"
}

# stop_server: TERM, KILL after 5 s.
stop_server() {
    local i
    kill -TERM "$SRV_PID" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
}

# RSS sampler: one "epoch_ms rss_kib" line per second while the server lives.
start_sampler() {
    local pid=$1 file=$2
    (
        while [ -r "/proc/$pid/status" ]; do
            awk -v t="$(date +%s%3N)" '/^VmRSS:/ {print t, $2}' "/proc/$pid/status" 2>/dev/null || true
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
rss_now() { awk '/^VmRSS:/ {print $2}' "/proc/$SRV_PID/status" 2>/dev/null || echo 0; }
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
    mkdir -p "$RAW" "$OUT/bin"
    local src=${GORT_EXAMPLES:-$TARGET/release/examples} b
    if [ -z "${GORT_EXAMPLES:-}" ]; then
        log "building the examples (cargo build --release --example mini_redis --example http_hello)"
        (cd "$ROOT" && cargo build --release --example mini_redis --example http_hello) \
            >"$RAW/build.log" 2>&1 || {
            tail -n 30 "$RAW/build.log" >&2
            log "the examples do not build"
            exit 2
        }
    fi
    # A copy, so that a rebuild during a long soak does not swap the binary under it.
    for b in mini_redis http_hello; do
        [ -x "$src/$b" ] || {
            log "$src/$b is missing"
            exit 2
        }
        cp "$src/$b" "$OUT/bin/$b"
    done
    BIN="$OUT/bin"
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

# ----------------------------------------------------------------------------- redis

# A PING over a plain socket: the server still answers.
redis_ping() {
    local reply
    # shellcheck disable=SC2016 # expanded by the inner shell
    reply=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && printf "PING\r\n" >&3 &&
        timeout 2 head -c 7 <&3' "${SRV_ADDR##*:}" 2>/dev/null || true)
    [[ $reply == "+PONG"* ]]
}

soak_redis() {
    ensure_tool redis-benchmark redis-tools
    say "" "== mini_redis under redis-benchmark: $SOAK_MINUTES min, -c $REDIS_CONNS -n $REDIS_REQUESTS \
-r $REDIS_KEYS -d $REDIS_VALUE -t $REDIS_TESTS per batch, --procs $PROCS"
    start_server mini_redis || return 1
    local samples="$RAW/redis.rss" rows="$RAW/redis.rows" m errors=0 alive=1
    : >"$rows"
    start_sampler "$SRV_PID" "$samples"
    header_row
    for ((m = 1; m <= SOAK_MINUTES; m++)); do
        local t0 end reqs=0 errs=0 b=0 t1 f rc n e rmax rend
        t0=$(now_ms)
        end=$((t0 + 60000))
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
            reqs=$((reqs + n * REDIS_REQUESTS))
            # redis-benchmark reports error replies (at most one a second) and connection
            # errors on stderr; a failed or timed-out batch counts as one error at least.
            e=$(grep -ci 'error' "$f.err" || true)
            [ "$rc" = 0 ] || { [ "$e" -gt 0 ] || e=1; }
            if [ "$e" -gt 0 ]; then
                log "minute $m batch $b: exit $rc, $(head -n 3 "$f.err" | tr '\n' ' ')"
            else
                rm -f "$f.csv" "$f.err"
            fi
            errs=$((errs + e))
            kill -0 "$SRV_PID" 2>/dev/null || break
        done
        t1=$(now_ms)
        read -r rmax rend < <(rss_window "$samples" "$t0" "$t1")
        local secs
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1000}')
        echo "$m $secs $reqs $errs $rmax $rend" >>"$rows"
        print_row "$m" "$secs" "$reqs" "$errs" "$rmax" "$rend"
        errors=$((errors + errs))
        kill -0 "$SRV_PID" 2>/dev/null || {
            log "mini_redis died during minute $m"
            alive=0
            break
        }
    done
    [ "$alive" = 0 ] || redis_ping || {
        log "mini_redis does not answer PING after the soak"
        alive=0
    }
    stop_sampler
    stop_server
    server_stderr
    verdict mini_redis "$rows" "$errors" "$alive"
}

# ------------------------------------------------------------------------------ http

# A single request over a plain socket: status 200 and the body.
http_check() {
    local reply
    # shellcheck disable=SC2016 # expanded by the inner shell
    reply=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" &&
        printf "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" >&3 &&
        timeout 2 cat <&3' "${SRV_ADDR##*:}" 2>/dev/null || true)
    [[ $reply == "HTTP/1.1 200"* && $reply == *"Hello, World!"* ]]
}

soak_http() {
    ensure_tool wrk wrk
    say "" "== http_hello under wrk: $SOAK_MINUTES min, one wrk -t$WRK_THREADS -c$WRK_CONNS -d60s \
--timeout $WRK_TIMEOUT per minute, --procs $PROCS"
    start_server http_hello || return 1
    local samples="$RAW/http.rss" rows="$RAW/http.rows" m errors=0 alive=1 url
    url="http://$SRV_ADDR/"
    : >"$rows"
    http_check || {
        log "http_hello does not answer 200 'Hello, World!' at $url"
        alive=0
    }
    start_sampler "$SRV_PID" "$samples"
    header_row
    for ((m = 1; m <= SOAK_MINUTES; m++)); do
        local t0 t1 f rc=0 reqs secs sock non2xx errs rmax rend
        f="$RAW/http-m$m.wrk"
        t0=$(now_ms)
        timeout -k 5 100 wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d60s --timeout "$WRK_TIMEOUT" \
            "$url" >"$f" 2>&1 || rc=$?
        t1=$(now_ms)
        # "N requests in 1.00m, ..." and the error lines wrk prints only when there are some.
        reqs=$(awk '/ requests in / {print $1; exit}' "$f")
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1000}')
        sock=$(sed -n 's/^ *Socket errors: //p' "$f" |
            awk -F'[ ,]+' '{s = 0; for (i = 2; i <= NF; i += 2) s += $i; print s}')
        non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: //p' "$f")
        errs=$((${sock:-0} + ${non2xx:-0}))
        if [ -z "$reqs" ] || [ "$rc" != 0 ]; then
            log "minute $m: wrk exited with $rc; output:"
            cat "$f" >&2
            errs=$((errs + 1))
            reqs=${reqs:-0}
        fi
        [ "$errs" = 0 ] || log "minute $m: $(grep -E 'Socket errors|Non-2xx' "$f" | tr -s ' ' | tr '\n' ' ')"
        read -r rmax rend < <(rss_window "$samples" "$t0" "$t1")
        echo "$m $secs $reqs $errs $rmax $rend" >>"$rows"
        print_row "$m" "$secs" "$reqs" "$errs" "$rmax" "$rend"
        errors=$((errors + errs))
        kill -0 "$SRV_PID" 2>/dev/null || {
            log "http_hello died during minute $m"
            alive=0
            break
        }
    done
    [ "$alive" = 0 ] || http_check || {
        log "http_hello does not answer after the soak"
        alive=0
    }
    stop_sampler
    stop_server
    server_stderr
    verdict http_hello "$rows" "$errors" "$alive"
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
