# Sourced by the scripts that need a running demo: builds the `bff` binary
# (debug unless PROFILE=release), starts `bff` on free ports with the demo
# services on free ports too, waits until every client is healthy, and sets
# WEB, MOBILE, ADMIN (ports), BFF_PID and DEMO_LOG. Stopped on exit.
set -euo pipefail
PROFILE="${PROFILE:-debug}"
TARGET="${CARGO_TARGET_DIR:-target}"
if [ "$PROFILE" = release ]; then cargo build -q --release --bin bff; else cargo build -q --bin bff; fi
BFF_BIN="$TARGET/$PROFILE/bff"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WEB=$(free_port); MOBILE=$(free_port); ADMIN=$(free_port)
DEMO_LOG=$(mktemp)
BFF_WEB_ADDR=127.0.0.1:$WEB BFF_MOBILE_ADDR=127.0.0.1:$MOBILE BFF_ADMIN_ADDR=127.0.0.1:$ADMIN \
  "$BFF_BIN" --demo-base-port 0 ${DEMO_ARGS:-} >"$DEMO_LOG" 2>&1 &
BFF_PID=$!
trap 'kill $BFF_PID 2>/dev/null || true; wait $BFF_PID 2>/dev/null || true; rm -f "$DEMO_LOG"' EXIT
for port in $WEB $MOBILE $ADMIN; do
  for _ in $(seq 1 150); do
    "$BFF_BIN" healthcheck "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    if ! kill -0 $BFF_PID 2>/dev/null; then cat "$DEMO_LOG"; exit 1; fi
    sleep 0.2
  done
done
