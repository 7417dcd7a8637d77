#!/usr/bin/env bash
# Reproduces docs/img/trace_demo.png: the trace of examples/trace_demo.rs, turned into
# Chrome trace JSON by gort-trace, shown by speedscope running offline in headless
# Chromium. Not run by CI.
#
#   tools/screenshot.sh [OUT.png]
#
# Needs cargo, python3, npm (speedscope is installed from the npm registry into a
# temporary directory) and chromium (Debian: apt-get install chromium nodejs npm).
#
# Speedscope shows one thread at a time, so the script picks the M that ran the most
# goroutine runs, narrows the JSON to that M's first 40 runs (few enough for their
# names to be legible), and makes speedscope show that M by sending it the "n" (next
# profile) key from a wrapper page. Slices are written without args
# (--no-args) so that speedscope names frames after the goroutines alone.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/docs/img/trace_demo.png}")
speedscope_version=1.25.0
chromium=${CHROMIUM:-$(command -v chromium || command -v chromium-browser)}

work=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
cargo build --release --example trace_demo
cargo build --release -p gort-tools --bin gort-trace
target=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
gort_trace=$target/release/gort-trace

"$target/release/examples/trace_demo" "$work/demo.trace"
"$gort_trace" summary "$work/demo.trace"
"$gort_trace" json "$work/demo.trace" -o "$work/full.json" --no-args

# The busiest M's track and window (ms since the trace start).
read -r tid from to < <(python3 - "$work/full.json" <<'EOF'
import json, sys
RUNS = 40
from collections import defaultdict
runs = defaultdict(list)
for e in json.load(open(sys.argv[1]))["traceEvents"]:
    if e["ph"] == "X" and e.get("cat") == "run":
        runs[e["tid"]].append(e)
tid, rs = max(runs.items(), key=lambda kv: len(kv[1]))
rs.sort(key=lambda e: e["ts"])
last = rs[min(RUNS, len(rs)) - 1]
print(tid, rs[0]["ts"] / 1e3, (last["ts"] + last["dur"]) / 1e3)
EOF
)

mkdir -p "$work/site"
"$gort_trace" json "$work/demo.trace" -o "$work/site/trace_demo.json" --no-args \
    --from "$from" --to "$to"

# Speedscope orders threads by tid: the chosen M is profile number `next` + 1.
read -r next title < <(python3 - "$work/site/trace_demo.json" "$tid" <<'EOF'
import json, sys
evs = json.load(open(sys.argv[1]))["traceEvents"]
tid = int(sys.argv[2])
tids = sorted({e["tid"] for e in evs if e["ph"] == "X"})
name = next(e["args"]["name"] for e in evs
            if e["ph"] == "M" and e["name"] == "thread_name" and e["tid"] == tid)
print(tids.index(tid), f"gort trace_demo: {name}")
EOF
)

npm install --prefix "$work/npm" --no-audit --no-fund --silent "speedscope@$speedscope_version"
cp -r "$work/npm/node_modules/speedscope/dist/release/." "$work/site/"
title_param=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$title")
cat > "$work/site/shot.html" <<EOF
<!doctype html>
<html><head><meta charset="utf-8"><title>gort trace screenshot</title>
<style>html, body { margin: 0; height: 100%; overflow: hidden } iframe { border: 0; width: 100%; height: 100% }</style>
</head><body>
<iframe id="ss" src="index.html#profileURL=trace_demo.json&title=$title_param"></iframe>
<script>
// Once speedscope has loaded the profile (its title says so), press "n" until it
// shows the chosen M.
const frame = document.getElementById("ss");
function showChosenM() {
  const doc = frame.contentDocument;
  if (!doc || !doc.title.endsWith("- speedscope")) return setTimeout(showChosenM, 50);
  for (let i = 0; i < $next; i++)
    frame.contentWindow.dispatchEvent(new KeyboardEvent("keypress", { key: "n" }));
}
frame.addEventListener("load", showChosenM);
</script>
</body></html>
EOF

# A server on a free port of 127.0.0.1: it prints the port it got.
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$work/site" >"$work/server.log" 2>&1 &
server=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$work/server.log" | head -n 1)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "screenshot.sh: the HTTP server did not start" >&2; exit 1; }

mkdir -p "$(dirname "$out")"
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1600,900 --virtual-time-budget=10000 \
    --screenshot="$out" "http://127.0.0.1:$port/shot.html" 2>/dev/null
echo "wrote $out"
