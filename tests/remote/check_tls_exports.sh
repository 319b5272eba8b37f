#!/usr/bin/env bash
# The TLS library must neither export nor import an OpenSSL symbol: an exported one could serve
# another library's calls, an imported one would be bound to whatever the process has loaded
# first (TensorFlow's BoringSSL). It must export its own interface.
#   check_tls_exports.sh LIBHEPINFER_TLS
set -euo pipefail
library=$1
openssl_names='^(SSL|SSL_CTX|TLS|DTLS|EVP|ERR|X509|BIO|OPENSSL|OSSL|CRYPTO|PEM|RAND|ASN1|BN|EC|RSA|i2d|d2i)_'
exported=$(nm -D --defined-only "$library" | awk '{print $3}' | grep -E "$openssl_names" || true)
imported=$(nm -D --undefined-only "$library" | awk '{print $2}' | grep -E "$openssl_names" || true)
if [[ -n $exported || -n $imported ]]; then
  echo "check_tls_exports: $library exports: ${exported:-none}; imports: ${imported:-none}" >&2
  exit 1
fi
interface=$(nm -D --defined-only "$library" | c++filt)
grep -q "hepinfer::remote::tls::ClientSession::handshake()" <<< "$interface" ||
  { echo "check_tls_exports: $library does not export its interface" >&2; exit 1; }
echo "check_tls_exports: no OpenSSL symbol in or out of $library"
