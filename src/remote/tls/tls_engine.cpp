#include "tls_engine.h"

#include <arpa/inet.h>
#include <dirent.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace hepinfer::remote::tls {
namespace {

// OpenSSL's error queue is per thread and must be empty before a call whose failure is examined;
// failures here always empty it, so it is cleared only when something else left an entry.
void expect_empty_error_queue() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

// The first error OpenSSL queued on this thread, or `fallback`.
std::string queued_error(std::string_view fallback) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return std::string(fallback);
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

bool is_ip_address(const std::string& host) {
  unsigned char address[16];
  return inet_pton(AF_INET, host.c_str(), address) == 1 || inet_pton(AF_INET6, host.c_str(), address) == 1;
}

constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// Where Linux distributions keep the system's trusted certificates as one PEM bundle. The OpenSSL
// linked in here was built by Debian and looks only under Debian's /usr/lib/ssl by itself, which
// EL (Alma, Rocky, RHEL: the grid's usual hosts), Fedora, openSUSE and Alpine do not have.
constexpr const char* kSystemBundles[] = {
    "/etc/ssl/certs/ca-certificates.crt",                 // Debian, Ubuntu, Arch, Gentoo
    "/etc/pki/tls/certs/ca-bundle.crt",                   // EL, Fedora
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // EL, Fedora (where the above links to)
    "/etc/ssl/ca-bundle.pem",                             // openSUSE
    "/etc/ssl/cert.pem",                                  // Alpine
};

bool directory_exists(const char* path) {
  DIR* directory = ::opendir(path);
  if (directory == nullptr) return false;
  ::closedir(directory);
  return true;
}

bool readable_file(const char* path) {
  std::FILE* file = std::fopen(path, "rb");
  if (file == nullptr) return false;
  std::fclose(file);
  return true;
}

// Trusts what the user named in $SSL_CERT_FILE / $SSL_CERT_DIR (OpenSSL reads them), else the
// first system bundle found, else OpenSSL's own default directory. False with `error` set when
// a named or found source cannot be read, or there is none.
bool trust_system_certificates(SSL_CTX* context, std::string& error) {
  if (std::getenv("SSL_CERT_FILE") != nullptr || std::getenv("SSL_CERT_DIR") != nullptr) {
    if (SSL_CTX_set_default_verify_paths(context) == 1) return true;
    error = "reading the trusted certificates of $SSL_CERT_FILE / $SSL_CERT_DIR: " + queued_error("failed");
    return false;
  }
  for (const char* bundle : kSystemBundles) {
    if (!readable_file(bundle)) continue;
    if (SSL_CTX_load_verify_locations(context, bundle, nullptr) == 1) return true;
    error = std::string("reading the system's trusted certificates from '") + bundle + "': " + queued_error("failed");
    return false;
  }
  if (readable_file(X509_get_default_cert_file()) || directory_exists(X509_get_default_cert_dir())) {
    if (SSL_CTX_set_default_verify_paths(context) == 1) return true;
  }
  error = "found no system certificates to trust (looked for /etc/ssl/certs/ca-certificates.crt, "
          "/etc/pki/tls/certs/ca-bundle.crt and the like); give the server a ca_file or set $SSL_CERT_FILE";
  return false;
}

// An encrypted key would make OpenSSL ask for its pass phrase on the terminal; this answers
// instead, with no pass phrase, and notes that one was asked for.
int refuse_pass_phrase(char*, int, int, void* asked) {
  *static_cast<bool*>(asked) = true;
  return 0;
}

}  // namespace

struct ClientContext::State {
  SSL_CTX* context = nullptr;
  bool pass_phrase_asked = false;
  ~State() { SSL_CTX_free(context); }
};

ClientContext::ClientContext(std::unique_ptr<State> state) : state_(std::move(state)) {}
ClientContext::~ClientContext() = default;

std::shared_ptr<ClientContext> ClientContext::create(const ClientSettings& settings, std::string& error) {
  // No clean-up at exit: a model destroyed after it (a static one) would free its sessions on
  // torn-down state. The process's end frees what OpenSSL holds.
  if (OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT, nullptr) != 1) {
    error = "initialising OpenSSL: " + queued_error("failed");
    return nullptr;
  }
  ERR_clear_error();
  auto state = std::make_unique<State>();
  state->context = SSL_CTX_new(TLS_client_method());
  if (state->context == nullptr) {
    error = "creating a TLS context: " + queued_error("out of memory");
    return nullptr;
  }
  SSL_CTX* context = state->context;
  SSL_CTX_set_default_passwd_cb(context, refuse_pass_phrase);
  SSL_CTX_set_default_passwd_cb_userdata(context, &state->pass_phrase_asked);
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
  // HTTP/1.1 is all this client speaks; a server offering HTTP/2 must not pick it.
  if (SSL_CTX_set_alpn_protos(context, kAlpnHttp11, sizeof kAlpnHttp11) != 0) {
    error = "setting ALPN: " + queued_error("failed");
    return nullptr;
  }
  if (!settings.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(context, settings.ca_file.c_str(), nullptr) != 1) {
      error = "reading trusted certificates from '" + settings.ca_file + "': " + queued_error("no certificate in it");
      return nullptr;
    }
  } else if (!trust_system_certificates(context, error)) {
    return nullptr;
  }
  if (!settings.certificate_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(context, settings.certificate_file.c_str()) != 1) {
      error = "reading the client certificate '" + settings.certificate_file + "': " + queued_error("failed");
      return nullptr;
    }
    const std::string& key_file =
        settings.private_key_file.empty() ? settings.certificate_file : settings.private_key_file;
    if (SSL_CTX_use_PrivateKey_file(context, key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(context) != 1) {
      if (state->pass_phrase_asked) {
        ERR_clear_error();
        error = "the client key '" + key_file + "' is encrypted; hepinfer reads unencrypted keys only (decrypt it "
                "into a file only the job's user can read)";
        return nullptr;
      }
      if (ERR_GET_REASON(ERR_peek_error()) != X509_R_KEY_VALUES_MISMATCH) {
        error = "reading the client key '" + key_file + "': " + queued_error("failed");
        return nullptr;
      }
      error = "the client key '" + key_file + "' does not match the certificate '" + settings.certificate_file +
              "': " + queued_error("mismatch");
      return nullptr;
    }
  } else if (!settings.private_key_file.empty()) {
    error = "a client key ('" + settings.private_key_file + "') was given without a client certificate";
    return nullptr;
  }
  return std::shared_ptr<ClientContext>(new ClientContext(std::move(state)));
}

struct ClientSession::State {
  std::shared_ptr<const ClientContext> context;
  SSL* ssl = nullptr;
  BIO* network_in = nullptr;   // owned by ssl
  BIO* network_out = nullptr;  // owned by ssl
  ~State() { SSL_free(ssl); }
};

ClientSession::ClientSession(std::shared_ptr<const ClientContext> context, const std::string& host)
    : state_(std::make_unique<State>()), host_(host) {
  ERR_clear_error();
  state_->context = std::move(context);
  state_->ssl = SSL_new(state_->context->state_->context);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (state_->ssl == nullptr || in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    error_ = "creating a TLS session for '" + host + "': " + queued_error("out of memory");
    return;
  }
  BIO_set_mem_eof_return(in, -1);  // an empty input means "wait for more", not end of stream
  SSL_set_bio(state_->ssl, in, out);
  state_->network_in = in;
  state_->network_out = out;
  SSL_set_connect_state(state_->ssl);
  bool named = false;
  const std::string bare = host.size() > 2 && host.front() == '[' && host.back() == ']' ? host.substr(1, host.size() - 2) : host;
  if (is_ip_address(bare)) {
    named = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(state_->ssl), bare.c_str()) == 1;
  } else {
    named = SSL_set_tlsext_host_name(state_->ssl, host.c_str()) == 1 && SSL_set1_host(state_->ssl, host.c_str()) == 1;
    // Names come from subjectAltName only, never from the subject's common name (RFC 6125
    // deprecated that fallback; browsers dropped it long ago).
    SSL_set_hostflags(state_->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
  }
  if (!named) error_ = "TLS: cannot check the server's certificate for '" + host + "': " + queued_error("invalid name");
}

ClientSession::~ClientSession() = default;

Progress ClientSession::fail(const char* step, int result) {
  const int reason = SSL_get_error(state_->ssl, result);
  if (reason == SSL_ERROR_ZERO_RETURN) return Progress::kClosed;
  if (reason == SSL_ERROR_WANT_READ || reason == SSL_ERROR_WANT_WRITE) {
    if (!ended_) return Progress::kWantInput;
    // Nothing more will come: a reader would wait for ever. Whatever was read may be cut short.
    if (std::string_view(step) == "read") return Progress::kTruncated;
    error_ = std::string("TLS ") + step + " with '" + host_ + "': the connection ended";
    return Progress::kFailed;
  }
  const long verified = SSL_get_verify_result(state_->ssl);
  if (verified != X509_V_OK) {
    error_ = std::string("TLS ") + step + " with '" + host_ + "': the server's certificate was not accepted: " +
             X509_verify_cert_error_string(verified);
    ERR_clear_error();
  } else {
    error_ = std::string("TLS ") + step + " with '" + host_ + "': " + queued_error("the peer broke the protocol");
  }
  return Progress::kFailed;
}

Progress ClientSession::handshake() {
  if (!error_.empty()) return Progress::kFailed;
  expect_empty_error_queue();
  const int result = SSL_do_handshake(state_->ssl);
  return result == 1 ? Progress::kDone : fail("handshake", result);
}

Progress ClientSession::write(const void* data, std::size_t size) {
  if (!error_.empty()) return Progress::kFailed;
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    expect_empty_error_queue();
    std::size_t written = 0;
    const int result = SSL_write_ex(state_->ssl, bytes, size, &written);
    if (result != 1) {
      // With renegotiation off and memory buffers, a write that does not complete cannot be
      // resumed: the session is over for this connection.
      if (fail("write", result) != Progress::kFailed) error_ = "TLS write to '" + host_ + "': the session is closed";
      return Progress::kFailed;
    }
    bytes += written;
    size -= written;
  }
  return Progress::kDone;
}

Progress ClientSession::read(void* data, std::size_t capacity, std::size_t& received) {
  received = 0;
  if (!error_.empty()) return Progress::kFailed;
  expect_empty_error_queue();
  const int result = SSL_read_ex(state_->ssl, data, capacity, &received);
  return result == 1 ? Progress::kDone : fail("read", result);
}

void ClientSession::receive_end() { ended_ = true; }

void ClientSession::receive(const void* data, std::size_t size) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const int chunk = static_cast<int>(std::min<std::size_t>(size, INT_MAX));
    const int written = BIO_write(state_->network_in, bytes, chunk);
    if (written <= 0) {
      error_ = "TLS: buffering " + std::to_string(size) + " bytes from '" + host_ + "': " + queued_error("out of memory");
      return;
    }
    bytes += written;
    size -= static_cast<std::size_t>(written);
  }
}

bool ClientSession::has_output() const {
  return state_->network_out != nullptr && BIO_ctrl_pending(state_->network_out) > 0;
}

void ClientSession::take_output(std::string& out) {
  if (state_->network_out == nullptr) return;
  while (const std::size_t pending = BIO_ctrl_pending(state_->network_out)) {
    const std::size_t start = out.size();
    const int chunk = static_cast<int>(std::min<std::size_t>(pending, INT_MAX));
    out.resize(start + static_cast<std::size_t>(chunk));
    const int taken = BIO_read(state_->network_out, out.data() + start, chunk);
    out.resize(start + static_cast<std::size_t>(std::max(taken, 0)));
    if (taken <= 0) return;
  }
}

std::string ClientSession::protocol() const { return state_->ssl != nullptr ? SSL_get_version(state_->ssl) : ""; }

std::string library_version() { return OpenSSL_version(OPENSSL_VERSION); }

}  // namespace hepinfer::remote::tls
