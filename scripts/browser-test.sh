#!/usr/bin/env bash
# Loads the GraphiQL of web, mobile and admin in headless Chromium (Debian's
# chromium, driven by playwright-core) with no network beyond loopback, runs
# a query on each and checks the answer (tests/browser/playground.mjs).
# Mobile runs with `clients.mobile.playground_persist_headers = true`, so
# both settings are seen in a browser: web and admin keep the token out of
# the browser's storage, mobile keeps it there.
# Leaves screenshots in artifacts/playground-{web,mobile,admin}.png.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
(cd tests/browser && npm ci --no-audit --no-fund --silent)
export BFF_CLIENTS__MOBILE__PLAYGROUND_PERSIST_HEADERS=true
source scripts/start-demo.sh
node tests/browser/playground.mjs artifacts \
  "web=http://127.0.0.1:$WEB" "mobile:persist=http://127.0.0.1:$MOBILE" "admin=http://127.0.0.1:$ADMIN"
