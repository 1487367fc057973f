#!/usr/bin/env bash
# Loads the web client's GraphiQL in headless Chromium (Debian's chromium,
# driven by playwright-core), runs a query and checks the answer. Leaves a
# screenshot in artifacts/playground-web.png.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
(cd tests/browser && npm ci --no-audit --no-fund --silent)
source scripts/start-demo.sh
mkdir -p artifacts
node tests/browser/playground.mjs "http://127.0.0.1:$WEB" '"formatted"' artifacts/playground-web.png
