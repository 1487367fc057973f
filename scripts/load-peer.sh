#!/usr/bin/env bash
# Peer load test: the same two web operations as scripts/load.sh, served by
# the Node.js Apollo Server BFF in benches/peers/apollo instead of the Rust
# gateway, against the same demo services, with the same load and the same
# table. Compare its "CPU ms per 1k ops" with load.sh's web rows.
#
# The demo services and the peer run as separate processes, wrk is the load
# generator, everything on this machine. Every request carries one of 200
# tokens (users u1..u200) in rotation, and the product page rotates over
# 1,000 products, so nothing is trivially cached per caller or per page.
#
# Usage: scripts/load-peer.sh [DURATION_SECONDS] [CONNECTIONS]   (defaults 10, 32)
#   PEER_CACHE=rust|http|off picks the peer's cache mode (see its README).
# Needs: wrk, python3, node + npm (the peer's deps are installed with npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
TARGET="${CARGO_TARGET_DIR:-target}"
PEER=benches/peers/apollo
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
command -v node >/dev/null || { echo "node is needed: apt-get install nodejs npm" >&2; exit 1; }

cargo build -q --release -p demo-services --bin demo-services
[ -d "$PEER/node_modules" ] || (cd "$PEER" && npm ci --no-audit --no-fund --loglevel=error)
BIN="$TARGET/release"
# shellcheck source=scripts/lib/demo.sh
source scripts/lib/demo.sh
start_demo_services
WEB=$(free_port)
export PORT=$WEB HOST=127.0.0.1 NODE_ENV=production
export BFF_JWT_SECRET="load-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
node "$PEER/server.mjs" >"$WORK/peer.log" 2>&1 &
PEER_PID=$!
PIDS+=($PEER_PID)
up() { curl -sf -o /dev/null "$@"; }
for _ in $(seq 1 100); do up "http://127.0.0.1:$BASE/health" && break; sleep 0.1; done
for _ in $(seq 1 100); do
  up -X POST -H 'content-type: application/json' -d '{"query":"{__typename}"}' "http://127.0.0.1:$WEB/graphql" && break
  sleep 0.1
done
up -X POST -H 'content-type: application/json' -d '{"query":"{__typename}"}' "http://127.0.0.1:$WEB/graphql" \
  || { echo "the peer did not start:" >&2; cat "$WORK/peer.log" >&2; exit 1; }

# Tokens for u1..u200 (HS256, same claims as `bff token --role customer
# --tier enterprise`), as a Lua table.
{
  echo "tokens = {"
  node "$PEER/token.mjs" u 200 | sed 's/.*/"&",/'
  echo "}"
} >"$WORK/tokens.lua"

body() { python3 -c 'import json,sys; print(json.dumps({"query": open(sys.argv[1]).read(), "variables": json.loads(sys.argv[2])}))' "$1" "$2"; }

run() { # name port body-file [rotate-products]
  local name=$1 port=$2 bodyfile=$3 rotate=${4:-}
  cat >"$WORK/script.lua" <<LUA
dofile("$WORK/tokens.lua")
local f = io.open("$bodyfile"); local body = f:read("*a"); f:close()
local i = 0
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
request = function()
  i = i + 1
  wrk.headers["authorization"] = "Bearer " .. tokens[(i % #tokens) + 1]
  local b = body
  if "$rotate" ~= "" then b = string.gsub(body, "__ID__", "p" .. ((i % 1000) + 1)) end
  return wrk.format(nil, "/graphql", nil, b)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %.0f %.0f %d\n", summary.requests,
    latency:percentile(50), latency:percentile(99), summary.errors.status))
end
LUA
  for i in "${!SERVICES[@]}"; do curl -s -X POST "http://127.0.0.1:$((BASE + i))/_control/reset" >/dev/null; done
  local before after
  before=$(awk '{print $14 + $15}' /proc/$PEER_PID/stat)
  local out
  out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/script.lua" "http://127.0.0.1:$port" | grep '^RESULT')
  after=$(awk '{print $14 + $15}' /proc/$PEER_PID/stat)
  local calls=0
  for i in "${!SERVICES[@]}"; do
    n=$(curl -s "http://127.0.0.1:$((BASE + i))/_control/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
    calls=$((calls + n))
  done
  read -r _ reqs p50 p99 bad <<<"$out"
  local tck; tck=$(getconf CLK_TCK)
  python3 - "$name" "$reqs" "$p50" "$p99" "$bad" "$calls" "$before" "$after" "$tck" "$DURATION" <<'PY'
import sys
name, reqs, p50, p99, bad, calls, before, after, tck, dur = sys.argv[1:]
reqs = int(reqs); cpu_ms = (int(after) - int(before)) * 1000 / int(tck)
print(f"| {name} | {reqs / int(dur):,.0f} | {float(p50)/1000:.2f} | {float(p99)/1000:.2f} | "
      f"{int(calls) / max(reqs, 1):.2f} | {cpu_ms * 1000 / max(reqs, 1):,.0f} | {bad} |")
PY
}

# A response must carry data, not errors: check one of each before loading.
check() { # body-file
  local t; t=$(sed -n 2p "$WORK/tokens.lua" | tr -d '",')
  sed 's/__ID__/p7/' "$1" | curl -s -H "authorization: Bearer $t" -H 'content-type: application/json' \
    -d @- "http://127.0.0.1:$WEB/graphql" | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit("peer answered errors: %s" % r["errors"] if r.get("errors") else 0)'
}

body bff-web/operations/product_page.graphql '{"id": "__ID__"}' >"$WORK/product_page.json"
body bff-web/operations/dashboard.graphql '{}' >"$WORK/dashboard.json"
check "$WORK/product_page.json"
check "$WORK/dashboard.json"
echo
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${DURATION}s per row, $CONNECTIONS connections, wrk -t1"
echo "peer: node $(node --version), @apollo/server $(node -p 'require("./'$PEER'/node_modules/@apollo/server/package.json").version'), cache mode ${PEER_CACHE:-rust}"
echo
echo "| operation | req/s | p50 ms | p99 ms | upstream calls/op | gateway CPU ms per 1k ops | non-200 |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
run "apollo web product page" "$WEB" "$WORK/product_page.json" rotate
run "apollo web dashboard" "$WEB" "$WORK/dashboard.json"
echo
echo "apollo peak RSS: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' /proc/$PEER_PID/status)"
