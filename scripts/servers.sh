# shellcheck shell=bash
# Servers under load, as scripts/soak.sh and benches/net.sh run them (both source this
# file): each server starts fresh on a free port of 127.0.0.1, must announce itself with
# "listening on ADDR" as its first stdout line, and is stopped after its run and killed
# on exit. Not a script of its own.
#
# Before sourcing, define BASE_PORT (the first port to try) and log (prints its
# arguments on stderr). Sourcing sets the traps: every pid in PIDS is killed on exit.

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

NEXT_PORT=${BASE_PORT:?set BASE_PORT before sourcing servers.sh}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# free_port: sets PORT to the next port from BASE_PORT up that nothing listens on.
free_port() {
    while port_busy "$NEXT_PORT"; do NEXT_PORT=$((NEXT_PORT + 1)); done
    # shellcheck disable=SC2034 # read by the sourcing script
    PORT=$NEXT_PORT
    NEXT_PORT=$((NEXT_PORT + 1))
}

# launch_server LABEL LOG PROBE CMD...: runs CMD in the background (stdout in LOG.out,
# stderr in LOG.err) and waits, 10 s at most, until it listens: with PROBE (a port),
# until that port accepts connections (for servers that print no address, such as
# redis-server); otherwise until its first stdout line says "listening on ADDR". Sets
# SRV_PID, SRV_LOG and SRV_ADDR, an address on the loopback interface (all traffic stays
# local). Fails with a message: 1 if the server exited, 2 if it still runs (the caller
# stops it).
launch_server() {
    local label=$1 probe=$3 i first
    SRV_LOG=$2
    shift 3
    "$@" >"$SRV_LOG.out" 2>"$SRV_LOG.err" &
    SRV_PID=$!
    PIDS+=("$SRV_PID")
    SRV_ADDR=
    for ((i = 0; i < 200; i++)); do
        if ! kill -0 "$SRV_PID" 2>/dev/null; then
            log "$label exited at start-up; stderr:"
            tail -n 20 "$SRV_LOG.err" >&2
            return 1
        fi
        if [ -n "$probe" ]; then
            port_busy "$probe" && SRV_ADDR=127.0.0.1:$probe
        # A whole line: a partly written one would give half an address.
        elif [ -s "$SRV_LOG.out" ] && [ "$(wc -l <"$SRV_LOG.out")" -ge 1 ]; then
            first=$(head -n1 "$SRV_LOG.out")
            [[ $first == "listening on "* ]] || {
                log "$label: first stdout line is not 'listening on ADDR': $first"
                return 2
            }
            SRV_ADDR=${first#listening on }
            SRV_ADDR=${SRV_ADDR%% *}
        fi
        [ -n "$SRV_ADDR" ] && break
        sleep 0.05
    done
    [ -n "$SRV_ADDR" ] || {
        log "$label did not start listening within 10 s"
        return 2
    }
    case $SRV_ADDR in
        127.* | localhost:* | "[::1]:"*) ;;
        *)
            log "$label listens on $SRV_ADDR, not on the loopback interface"
            return 2
            ;;
    esac
}

# terminate PID: TERM, then KILL after 5 s; reaps it.
terminate() {
    local i
    kill -TERM "$1" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# status_kib PID FIELD: FIELD (VmRSS: resident memory, VmHWM: its peak) of
# /proc/PID/status, in KiB; fails once the process is gone.
status_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null; }

# hello_ok HOST PORT: a GET / over a plain socket gets status 200 and "Hello, World!".
hello_ok() {
    local reply
    # shellcheck disable=SC2016 # expanded by the inner shell
    reply=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1" &&
        printf "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" "$0" >&3 &&
        timeout 2 cat <&3' "$1" "$2" 2>/dev/null || true)
    [[ $reply == "HTTP/1.1 200"* && $reply == *"Hello, World!"* ]]
}

# wrk_errors FILE: the errors in wrk's output FILE, socket errors (connect, read, write,
# timeout) plus non-2xx/3xx responses; wrk prints those lines only when there are some.
wrk_errors() {
    local sock non2xx
    sock=$(sed -n 's/^ *Socket errors: //p' "$1" |
        awk -F'[ ,]+' '{s = 0; for (i = 2; i <= NF; i += 2) s += $i; print s}')
    non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: //p' "$1")
    echo $((${sock:-0} + ${non2xx:-0}))
}

# copy_binaries FROM TO NAME...: a fresh directory TO with a copy of each executable
# FROM/NAME, so that a rebuild during a long run does not swap a binary under it. Prints
# the names that are missing, and fails if there are any.
copy_binaries() {
    local from=$1 to=$2 name missing=()
    shift 2
    rm -rf "$to"
    mkdir -p "$to"
    for name in "$@"; do
        if [ -x "$from/$name" ]; then
            cp "$from/$name" "$to/$name"
        else
            missing+=("$name")
        fi
    done
    [ ${#missing[@]} = 0 ] || {
        echo "${missing[*]}"
        return 1
    }
}
