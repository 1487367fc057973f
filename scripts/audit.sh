#!/usr/bin/env bash
# Runs the graphql-http server audit (GraphQL-over-HTTP conformance) against
# web, mobile and admin of a freshly started demo. Fails on any MUST/SHOULD miss.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd scripts/audit && npm ci --no-audit --no-fund --silent)
source scripts/start-demo.sh
# The admin client answers introspection (the audit's probe queries) only to
# staff: audit it with the admin token the demo banner prints.
ADMIN_TOKEN=$(awk '/^    admin /{getline; print $1}' "$DEMO_LOG")
[ -n "$ADMIN_TOKEN" ] || { echo "no admin token in the demo banner"; exit 1; }
node scripts/audit/audit.mjs \
  "http://127.0.0.1:$WEB/graphql" "http://127.0.0.1:$MOBILE/graphql" \
  --token "$ADMIN_TOKEN" "http://127.0.0.1:$ADMIN/graphql"
