#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: repeatable
# whatever else the machine is doing, so a hot-path change can be judged
# by one run before and one after (the load test's CPU figures move by a
# few percent from run to run on a shared machine).
#
# Starts the demo services (native) and the release gateway under callgrind,
# sends 400 warm-up requests of one operation (every token and page seen
# twice), zeroes the counters, sends N more, and prints the gateway's
# instructions per request. Requests carry one of 200 tokens in rotation;
# the product page rotates over products. Cache lifetimes are raised to an
# hour (the gateway's default TTL, and the products service's max-age,
# which overrides it) because callgrind runs ~50x slower than native: at
# native speed the same entries would still be fresh, and a profile of
# entries expiring mid-run shows re-parsing that a native run amortises.
#
# Usage: scripts/callgrind.sh [product|dashboard|home] [N]   (defaults dashboard, 300)
#   CALLGRIND_OUT=DIR keeps the profile (callgrind_annotate DIR/callgrind.out.*)
#   BFF_BIN=PATH profiles another build of the gateway (e.g. an older commit)
# Needs: valgrind, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
OP="${1:-dashboard}"
N="${2:-300}"
TARGET="${CARGO_TARGET_DIR:-target}"
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }

cargo build -q --release -p bff --bin bff
cargo build -q --release -p demo-services --bin demo-services
BIN="$TARGET/release"
BFF_BIN="${BFF_BIN:-$BIN/bff}"
OUT="${CALLGRIND_OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
# shellcheck source=scripts/lib/demo.sh
source scripts/lib/demo.sh
DEMO_ARGS="--products-max-age 3600" start_demo_services
for s in "${SERVICES[@]}"; do export "BFF_SERVICES__${s^^}__CACHE_TTL=1h"; done
WEB=$(free_port); MOBILE=$(free_port); ADMIN=$(free_port)
export BFF_WEB_ADDR=127.0.0.1:$WEB BFF_MOBILE_ADDR=127.0.0.1:$MOBILE BFF_ADMIN_ADDR=127.0.0.1:$ADMIN
export BFF_JWT_SECRET="callgrind-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
# As in load.sh: budgets charged and refunded, too large to throttle.
export BFF_COST__BUDGET__ENTERPRISE__LIMIT=1000000000 BFF_COST__BUDGET__ENTERPRISE__RESTORE_RATE=1000000000
export BFF_COST__FLOOD__ENABLED=false RUST_LOG=warn
valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$OUT/callgrind.out.%p" \
  "$BFF_BIN" >"$OUT/bff.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 600); do
  python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$WEB/healthz', timeout=1)" 2>/dev/null && break
  sleep 0.2
done

python3 - "$OP" "$N" "$WEB" "$MOBILE" <<'EOF'
import base64, hashlib, hmac, http.client, json, os, subprocess, sys, time, urllib.request
op, n, web, mobile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = os.environ["BFF_JWT_SECRET"].encode()
head = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
now = int(time.time())
tokens = []
for i in range(1, 201):
    claims = {"sub": f"u{i}", "roles": ["customer"], "scope": "", "iat": now,
              "exp": now + 7200, "tier": "enterprise"}
    signing = head + "." + b64(json.dumps(claims).encode())
    tokens.append(signing + "." + b64(hmac.new(key, signing.encode(), hashlib.sha256).digest()))
ops = {
    "product": ("bff-web/operations/product_page.graphql", True, web),
    "dashboard": ("bff-web/operations/dashboard.graphql", False, web),
    "home": ("bff-mobile/operations/home.graphql", False, mobile),
}
path, rotate, port = ops[op]
query = open(path).read()
conn = http.client.HTTPConnection("127.0.0.1", port)
def request(i):
    variables = {"id": f"p{i % 1000 + 1}"} if rotate else {}
    body = json.dumps({"query": query, "variables": variables})
    conn.request("POST", "/graphql", body, {"content-type": "application/json",
                                            "authorization": "Bearer " + tokens[i % 200]})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200 or b'"errors"' in data:
        sys.exit(f"unexpected answer: {resp.status} {data[:300]!r}")
for i in range(400):
    request(i)
subprocess.run(["callgrind_control", "--zero"], check=True, stdout=subprocess.DEVNULL)
for i in range(n):
    request(i)
subprocess.run(["callgrind_control", "--dump"], check=True, stdout=subprocess.DEVNULL)
# What the upstream cache did over the whole run (warm-up included): a
# change that makes warm requests miss shows here before it shows in time.
metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60).read().decode()
for line in metrics.splitlines():
    if line.startswith("bff_cache_events_total"):
        print("  " + line, file=sys.stderr)
EOF
PROFILE=$(ls -t "$OUT"/callgrind.out.*.* | head -1)
TOTAL=$(callgrind_annotate "$PROFILE" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
echo "$OP: $((TOTAL / N)) instructions per request ($N requests; profile: $PROFILE)"
