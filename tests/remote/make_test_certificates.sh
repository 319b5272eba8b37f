#!/usr/bin/env bash
# Certificates for the TLS tests, made fresh in DIR (never committed): two unrelated CAs, server
# certificates for 127.0.0.1/localhost, for another name and for localhost in the common name only
# (no subjectAltName), a client certificate and its key encrypted.
#   make_test_certificates.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
days=2
quiet() { "$@" > /dev/null 2>&1 || { echo "make_test_certificates: failed: $*" >&2; "$@"; exit 1; }; }

ca() {  # NAME
  quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$days" \
    -subj "/CN=hepinfer test $1" -keyout "$1.key" -out "$1.pem"
}
signed() {  # NAME CA SUBJECT_ALT_NAMES(or none) EXTENDED_KEY_USAGE [COMMON_NAME]
  quiet openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=${5:-hepinfer test $1}" \
    -keyout "$1.key" -out "$1.csr"
  printf 'extendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$4" > "$1.ext"
  [ "$3" = none ] || printf 'subjectAltName=%s\n' "$3" >> "$1.ext"
  quiet openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days "$days" \
    -extfile "$1.ext" -out "$1.pem"
  rm -f "$1.csr" "$1.ext"
}

ca ca
ca other_ca
signed server ca "IP:127.0.0.1,DNS:localhost" serverAuth
signed wrong_name ca "DNS:elsewhere.example.org" serverAuth
signed common_name_only ca none serverAuth localhost
signed untrusted_server other_ca "IP:127.0.0.1,DNS:localhost" serverAuth
signed client ca "DNS:hepinfer-client" clientAuth
quiet openssl pkey -in client.key -aes256 -passout pass:not-given -out client_encrypted.key
echo "certificates in $dir"
