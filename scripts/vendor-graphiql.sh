#!/usr/bin/env bash
# Vendors the GraphiQL playground that the gateway embeds in its binary
# (bff-core/assets/graphiql/, served by bff-core/src/server/graphiql.rs) from
# the npm registry, at the pinned versions below.
#
# For each package it fetches the tarball with `npm pack`, checks the
# tarball's sha512 against the `dist.integrity` the registry publishes,
# copies the browser builds and the licence, and rewrites SHA256SUMS (which
# a test of bff-core recomputes) and SOURCES (package, version, integrity).
#
#   scripts/vendor-graphiql.sh           re-vendor (writes the files)
#   scripts/vendor-graphiql.sh --check   re-vendor into a temporary folder and
#                                        fail if the committed files differ
#
# GraphiQL 4.1 is the newest line published as a self-contained browser build
# (`graphiql.min.js`, a UMD bundle on the `React`/`ReactDOM` globals); from 5.0
# GraphiQL ships ES modules for a bundler (Monaco and its web workers) only.
# React 18.3 is the newest React with UMD builds (19 has none).
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHIQL_VERSION=4.1.2
REACT_VERSION=18.3.1

DEST=bff-core/assets/graphiql
CHECK=0
if [ "${1:-}" = --check ]; then CHECK=1; fi

command -v npm >/dev/null || { echo "npm is needed (apt-get install nodejs npm)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
OUT="$WORK/out"
mkdir -p "$OUT"

# fetch <package> <version>: leaves the package unpacked in $WORK/<package>
# and appends its line to SOURCES.
fetch() {
  local pkg=$1 version=$2
  local expected tarball actual
  expected=$(npm view "$pkg@$version" dist.integrity)
  case "$expected" in
    sha512-*) ;;
    *) echo "$pkg@$version: the registry gives no sha512 integrity ($expected)" >&2; exit 1 ;;
  esac
  tarball=$(cd "$WORK" && npm pack --silent "$pkg@$version" | tail -n 1)
  actual="sha512-$(node -e '
    const h = require("crypto").createHash("sha512");
    h.update(require("fs").readFileSync(process.argv[1]));
    console.log(h.digest("base64"));' "$WORK/$tarball")"
  if [ "$actual" != "$expected" ]; then
    echo "$pkg@$version: tarball integrity $actual, registry says $expected" >&2
    exit 1
  fi
  mkdir -p "$WORK/$pkg"
  tar -xzf "$WORK/$tarball" -C "$WORK/$pkg" --strip-components=1
  echo "$pkg $version $expected" >>"$OUT/SOURCES"
  echo "$pkg@$version: integrity verified ($expected)"
}

fetch graphiql "$GRAPHIQL_VERSION"
fetch react "$REACT_VERSION"
fetch react-dom "$REACT_VERSION"

cp "$WORK/graphiql/graphiql.min.js" "$WORK/graphiql/graphiql.min.css" "$OUT/"
cp "$WORK/react/umd/react.production.min.js" "$OUT/"
cp "$WORK/react-dom/umd/react-dom.production.min.js" "$OUT/"
cp "$WORK/graphiql/LICENSE" "$OUT/LICENSE.graphiql"
cp "$WORK/react/LICENSE" "$OUT/LICENSE.react"
cp "$WORK/react-dom/LICENSE" "$OUT/LICENSE.react-dom"
(cd "$OUT" && sha256sum graphiql.min.js graphiql.min.css react.production.min.js \
  react-dom.production.min.js LICENSE.graphiql LICENSE.react LICENSE.react-dom >SHA256SUMS)

if [ "$CHECK" = 1 ]; then
  if diff -r "$OUT" "$DEST" >/dev/null; then
    echo "$DEST matches the registry's packages"
  else
    diff -r "$OUT" "$DEST" | head -n 20 >&2 || true
    echo "$DEST differs from what the registry serves: run scripts/vendor-graphiql.sh" >&2
    exit 1
  fi
else
  mkdir -p "$DEST"
  rm -f "$DEST"/*
  cp "$OUT"/* "$DEST/"
  echo "vendored into $DEST:"
  cat "$DEST/SHA256SUMS"
fi
