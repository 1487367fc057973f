#!/usr/bin/env bash
# A development CA and a server certificate signed by it, for HTTPS on the
# gateway's ports (BFF_TLS_CERT_FILE / BFF_TLS_KEY_FILE) and for clients
# that must trust it (BFF_TLS_CA_FILE, curl --cacert). Never for production.
#
# Usage: scripts/dev-cert.sh OUT_DIR [NAME...]
#   NAME: DNS names or IP addresses of the certificate (default: localhost
#   and 127.0.0.1). Writes OUT_DIR/ca.pem, OUT_DIR/bff.crt, OUT_DIR/bff.key
#   (P-256 keys, valid 30 days). Run it again to rotate: the gateway picks
#   the new files up on its next connection.
# Needs: openssl.
set -euo pipefail
OUT="${1:?usage: scripts/dev-cert.sh OUT_DIR [NAME...]}"
shift
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(localhost 127.0.0.1)
command -v openssl >/dev/null || { echo "openssl is needed (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$OUT"
SAN=""
for name in "${NAMES[@]}"; do
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then SAN+="IP:$name,"; else SAN+="DNS:$name,"; fi
done
SAN="${SAN%,}"
TMP=$(mktemp -d "$OUT/.dev-cert.XXXXXX")   # same filesystem: the renames below are atomic
trap 'rm -rf "$TMP"' EXIT
EC=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
if [ ! -f "$OUT/ca.pem" ] || [ ! -f "$OUT/ca.key" ]; then
  openssl req -x509 "${EC[@]}" -days 365 -subj "/CN=bff development CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$OUT/ca.key" -out "$OUT/ca.pem" 2>/dev/null
fi
openssl req "${EC[@]}" -subj "/CN=${NAMES[0]}" -keyout "$TMP/bff.key" -out "$TMP/bff.csr" 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n' "$SAN" >"$TMP/ext"
openssl x509 -req -in "$TMP/bff.csr" -CA "$OUT/ca.pem" -CAkey "$OUT/ca.key" \
  -set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile "$TMP/ext" -out "$TMP/bff.crt" 2>/dev/null
# Readable by the gateway's non-root user in a container (development only).
chmod 644 "$TMP/bff.key" "$TMP/bff.crt"
# Key first, then certificate, each renamed into place (never half-written).
mv "$TMP/bff.key" "$OUT/bff.key"
mv "$TMP/bff.crt" "$OUT/bff.crt"
echo "$OUT/ca.pem  $OUT/bff.crt  $OUT/bff.key  ($SAN)"
