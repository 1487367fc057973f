# Sourced by the load and profile scripts: a scratch dir, processes killed on
# exit, free loopback ports, and the demo services started on a free block of
# eight ports with BFF_UPSTREAM_* pointing at them.
# Needs: BIN (the release dir holding demo-services), python3.

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

SERVICES=(users products orders reviews inventory recommendations shipping loyalty)

# Starts the demo services; sets BASE (the first service's port).
start_demo_services() {
  BASE=$(python3 - <<'PY'
import socket
for base in range(17001, 60000, 10):
    ok = True
    for p in range(base, base + 8):
        s = socket.socket()
        try: s.bind(("127.0.0.1", p))
        except OSError: ok = False
        finally: s.close()
    if ok: print(base); break
PY
)
  "$BIN/demo-services" --base-port "$BASE" ${DEMO_ARGS:-} >"$WORK/demo.log" 2>&1 &
  PIDS+=($!)
  local i
  for i in "${!SERVICES[@]}"; do
    export "BFF_UPSTREAM_${SERVICES[$i]^^}=http://127.0.0.1:$((BASE + i))"
  done
}
