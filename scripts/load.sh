#!/usr/bin/env bash
# Load test on loopback: the demo services and the gateway as separate
# release processes, wrk as the load generator, everything on this machine.
#
# For each operation it reports requests/s, p50/p99 latency, upstream calls
# per operation (from the demo services' /_control/stats), the gateway's own
# CPU milliseconds per 1,000 operations (utime+stime from /proc) and its peak
# RSS. Every request carries one of 200 tokens (users u1..u200; LOAD_TOKENS=N
# for more) in rotation,
# and the product page rotates over 1,000 products, so nothing is trivially
# cached per caller or per page.
#
# Usage: scripts/load.sh [DURATION_SECONDS] [CONNECTIONS]   (defaults 10, 32;
# the 5 ms latency row always uses 4 connections: latency at moderate load)
# LOAD_ONLY=REGEX runs only the rows whose name matches (e.g. LOAD_ONLY=dashboard);
# LOAD_REPEAT=N runs all the rows N times over on the same gateway (RSS over time);
# LOAD_PERF=FILE records the gateway with `perf record -g` during the rows;
# BFF_BIN=PATH loads another build of the gateway (e.g. an older commit);
# LOAD_TLS=1 serves the clients' ports over HTTPS (a dev certificate from
# scripts/dev-cert.sh; wrk speaks HTTP/1.1 over TLS on kept-alive connections).
# Needs: wrk (apt-get install wrk), python3.
set -euo pipefail
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true   # 1,000 connections need file descriptors
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
TARGET="${CARGO_TARGET_DIR:-target}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

cargo build -q --release -p bff --bin bff
cargo build -q --release -p demo-services --bin demo-services
BIN="$TARGET/release"
# shellcheck source=scripts/lib/demo.sh
source scripts/lib/demo.sh
start_demo_services
WEB=$(free_port); MOBILE=$(free_port); ADMIN=$(free_port)
export BFF_WEB_ADDR=127.0.0.1:$WEB BFF_MOBILE_ADDR=127.0.0.1:$MOBILE BFF_ADMIN_ADDR=127.0.0.1:$ADMIN
export BFF_JWT_SECRET="load-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
# Budgets stay on (charged and refunded on every request, one bucket per
# token) with an enterprise budget too large to throttle a load generator;
# the per-IP flood limiter is off (every request comes from 127.0.0.1).
export BFF_COST__BUDGET__ENTERPRISE__LIMIT=1000000000 BFF_COST__BUDGET__ENTERPRISE__RESTORE_RATE=1000000000
export BFF_COST__FLOOD__ENABLED=false
export RUST_LOG=warn
SCHEME=http
if [ -n "${LOAD_TLS:-}" ]; then
  bash scripts/dev-cert.sh "$WORK/tls" localhost 127.0.0.1 >/dev/null
  export BFF_TLS_CERT_FILE="$WORK/tls/bff.crt" BFF_TLS_KEY_FILE="$WORK/tls/bff.key" BFF_TLS_CA_FILE="$WORK/tls/ca.pem"
  SCHEME=https
fi
"${BFF_BIN:-$BIN/bff}" >"$WORK/bff.log" 2>&1 &
BFF_PID=$!
PIDS+=($BFF_PID)
for port in $WEB $MOBILE $ADMIN $BASE; do
  for _ in $(seq 1 100); do
    "$BIN/bff" healthcheck "$([ "$port" = "$BASE" ] && echo "http://127.0.0.1:$port/health" || echo "$SCHEME://127.0.0.1:$port/healthz")" >/dev/null 2>&1 && break
    sleep 0.1
  done
done

# LOAD_TOKENS distinct tokens (default 200), as a Lua table: HS256 with the
# gateway's secret and the claims `bff token` mints, for users u1..u2000 in
# turn (the demo's users) with a distinct `jti` each.
python3 - "${LOAD_TOKENS:-200}" >"$WORK/tokens.lua" <<'EOF'
import base64, hashlib, hmac, json, os, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = os.environ["BFF_JWT_SECRET"].encode()
head = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
now = int(time.time())
print("tokens = {")
for i in range(1, int(sys.argv[1]) + 1):
    claims = {"sub": f"u{(i - 1) % 2000 + 1}", "jti": str(i), "roles": ["customer"], "scope": "", "iat": now,
              "exp": now + 7200, "tier": "enterprise"}
    signing = head + "." + b64(json.dumps(claims).encode())
    sig = b64(hmac.new(key, signing.encode(), hashlib.sha256).digest())
    print(f'"{signing}.{sig}",')
print("}")
EOF

body() { python3 -c 'import json,sys; print(json.dumps({"query": open(sys.argv[1]).read(), "variables": json.loads(sys.argv[2])}))' "$1" "$2"; }

run() { # name port body-file [rotate-products]
  local name=$1 port=$2 bodyfile=$3 rotate=${4:-}
  if [ -n "${LOAD_ONLY:-}" ] && ! [[ "$name" =~ $LOAD_ONLY ]]; then return; fi
  [ "${LOAD_REPEAT:-1}" = 1 ] || name="$name (round $round)"
  cat >"$WORK/script.lua" <<EOF
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
-- Answers that are 200 but carry GraphQL errors, counted per wrk thread
-- (each has its own Lua state; done() reads them back through setup's list).
local threads = {}
setup = function(thread) table.insert(threads, thread) end
with_errors = 0
response = function(status, headers, body)
  if status == 200 and string.find(body, '"errors"', 1, true) then with_errors = with_errors + 1 end
end
done = function(summary, latency, requests)
  local with_errors = 0
  for _, t in ipairs(threads) do with_errors = with_errors + (t:get("with_errors") or 0) end
  io.write(string.format("RESULT %d %.0f %.0f %d %d\n", summary.requests,
    latency:percentile(50), latency:percentile(99), summary.errors.status, with_errors))
end
EOF
  for i in "${!SERVICES[@]}"; do curl -s -X POST "http://127.0.0.1:$((BASE + i))/_control/reset" >/dev/null; done
  if [[ "$name" == *"5 ms upstream latency"* ]]; then
    for i in "${!SERVICES[@]}"; do
      curl -s -X PUT "http://127.0.0.1:$((BASE + i))/_control/faults" -H 'content-type: application/json' -d '{"latencyMs": 5}' >/dev/null
    done
  fi
  local before after
  before=$(awk '{print $14 + $15}' /proc/$BFF_PID/stat)
  local out perf_pid=""
  if [ -n "${LOAD_PERF:-}" ]; then
    perf record -q -F 299 --call-graph dwarf,32768 -p "$BFF_PID" -o "$LOAD_PERF" -- sleep "$DURATION" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  out=$(wrk -t1 -c"${CONN:-$CONNECTIONS}" -d"${DURATION}s" -s "$WORK/script.lua" "$SCHEME://127.0.0.1:$port" | grep '^RESULT')
  after=$(awk '{print $14 + $15}' /proc/$BFF_PID/stat)
  [ -z "$perf_pid" ] || wait "$perf_pid" || true
  local rss; rss=$(awk '/VmRSS/ {printf "%.0f", $2/1024}' /proc/$BFF_PID/status)
  local calls=0
  for i in "${!SERVICES[@]}"; do
    n=$(curl -s "http://127.0.0.1:$((BASE + i))/_control/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
    calls=$((calls + n))
  done
  read -r _ reqs p50 p99 bad witherr <<<"$out"
  local tck; tck=$(getconf CLK_TCK)
  python3 - "$name" "$reqs" "$p50" "$p99" "$bad" "$calls" "$before" "$after" "$tck" "$DURATION" "$rss" "$witherr" <<'EOF'
import sys
name, reqs, p50, p99, bad, calls, before, after, tck, dur, rss, witherr = sys.argv[1:]
reqs = int(reqs); cpu_ms = (int(after) - int(before)) * 1000 / int(tck)
print(f"| {name} | {reqs / int(dur):,.0f} | {float(p50)/1000:.2f} | {float(p99)/1000:.2f} | "
      f"{int(calls) / max(reqs, 1):.2f} | {cpu_ms * 1000 / max(reqs, 1):,.0f} | {bad} | {witherr} | {rss} |")
EOF
}

body bff-web/operations/product_page.graphql '{"id": "__ID__"}' >"$WORK/product_page.json"
body bff-web/operations/dashboard.graphql '{}' >"$WORK/dashboard.json"
# The same dashboard with the loyalty panel (the GraphQL upstream): one
# `_entities` call more per operation.
sed 's/^    tier$/    tier\n    loyalty { points tier history(first: 3) { delta reason } }/' \
  bff-web/operations/dashboard.graphql >"$WORK/dashboard_loyalty.graphql"
grep -q loyalty "$WORK/dashboard_loyalty.graphql" || { echo "dashboard: no loyalty inserted" >&2; exit 1; }
body "$WORK/dashboard_loyalty.graphql" '{}' >"$WORK/dashboard_loyalty.json"
echo
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${DURATION}s per row, $CONNECTIONS connections, wrk -t1, $SCHEME"
echo
echo "| operation | req/s | p50 ms | p99 ms | upstream calls/op | gateway CPU ms per 1k ops | non-200 | 200 with errors | gateway RSS MiB after |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for round in $(seq 1 "${LOAD_REPEAT:-1}"); do
  run "web product page" "$WEB" "$WORK/product_page.json" rotate
  run "web dashboard" "$WEB" "$WORK/dashboard.json"
  run "web dashboard + loyalty" "$WEB" "$WORK/dashboard_loyalty.json"
  if [ -f bff-mobile/operations/home.graphql ]; then
    body bff-mobile/operations/home.graphql '{}' >"$WORK/home.json"
    run "mobile home" "$MOBILE" "$WORK/home.json"
  fi
  # Moderate load (4 connections, far from saturation): is p99 dominated by
  # the upstream critical path (5 ms per call, four levels deep)?
  CONN=4 run "web dashboard, 5 ms upstream latency, 4 connections" "$WEB" "$WORK/dashboard.json"
done
echo
echo "gateway peak RSS: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' /proc/$BFF_PID/status)"
