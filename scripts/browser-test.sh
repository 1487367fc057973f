#!/usr/bin/env bash
# Loads the GraphiQL of web, mobile and admin in headless Chromium (Debian's
# chromium, driven by playwright-core) with no network beyond loopback, runs
# a query on each and checks the answer (tests/browser/playground.mjs).
# Leaves screenshots in artifacts/playground-{web,mobile,admin}.png.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
(cd tests/browser && npm ci --no-audit --no-fund --silent)
source scripts/start-demo.sh
node tests/browser/playground.mjs artifacts \
  "web=http://127.0.0.1:$WEB" "mobile=http://127.0.0.1:$MOBILE" "admin=http://127.0.0.1:$ADMIN"
