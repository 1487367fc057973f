#!/usr/bin/env bash
# Runs the graphql-http server audit (GraphQL-over-HTTP conformance) against
# web, mobile and admin of a freshly started demo. Fails on any MUST/SHOULD miss.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd scripts/audit && npm ci --no-audit --no-fund --silent)
source scripts/start-demo.sh
node scripts/audit/audit.mjs \
  "http://127.0.0.1:$WEB/graphql" "http://127.0.0.1:$MOBILE/graphql" "http://127.0.0.1:$ADMIN/graphql"
