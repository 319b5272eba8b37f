#pragma once
// TLS for the remote backend's HTTP clients, as a "sans-I/O" engine: ciphertext from the network
// goes in through ClientSession::receive, ciphertext for the network comes out of take_output, and
// plaintext is read and written in between; the caller owns the sockets. It is built as its own
// shared library with OpenSSL linked in statically and none of OpenSSL's symbols exported or
// imported (src/remote/tls/CMakeLists.txt): a process that also runs TensorFlow, whose library
// exports BoringSSL under OpenSSL's names, would otherwise have these calls served by BoringSSL.
// No OpenSSL type appears here.

#include <cstddef>
#include <memory>
#include <string>

#define HEPINFER_TLS_API __attribute__((visibility("default")))

namespace hepinfer::remote::tls {

struct ClientSettings {
  std::string ca_file;           // PEM certificates to trust; empty: the system's (or $SSL_CERT_FILE / $SSL_CERT_DIR)
  std::string certificate_file;  // this client's certificate chain (PEM), for servers that ask; empty: none
  std::string private_key_file;  // its key (PEM); empty: taken from certificate_file
};

// The certificates to trust and this client's identity, loaded once and shared by every session
// (thread-safe once created).
class HEPINFER_TLS_API ClientContext {
 public:
  // nullptr with `error` set when a file cannot be read or holds no certificate or key.
  static std::shared_ptr<ClientContext> create(const ClientSettings& settings, std::string& error);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  struct State;

 private:
  friend class ClientSession;
  explicit ClientContext(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

enum class Progress {
  kDone,       // the step completed
  kWantInput,  // more ciphertext must be received first (take_output may hold some to send)
  kClosed,     // the server ended the TLS session (close_notify)
  kTruncated,  // the connection ended without the server ending the TLS session first
  kFailed,     // error() says why; the session is unusable
};

// One connection's TLS state. Not thread-safe: one I/O owner at a time.
class HEPINFER_TLS_API ClientSession {
 public:
  // `host` is sent as the server name (SNI) and checked against the server's certificate (an IP
  // address against its IP addresses).
  ClientSession(std::shared_ptr<const ClientContext> context, const std::string& host);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  Progress handshake();
  // Encrypts all of `data` into the output; kDone once it is there.
  Progress write(const void* data, std::size_t size);
  // Up to `capacity` bytes of plaintext; kWantInput when none is decrypted yet.
  Progress read(void* data, std::size_t capacity, std::size_t& received);

  // Ciphertext that came from the server.
  void receive(const void* data, std::size_t size);
  // The connection ended: reads after the buffered data say kClosed or kTruncated.
  void receive_end();
  bool has_output() const;
  // Appends the ciphertext waiting to go to the server to `out`.
  void take_output(std::string& out);

  const std::string& error() const { return error_; }
  std::string protocol() const;  // "TLSv1.3", once the handshake is done

  struct State;

 private:
  Progress fail(const char* step, int result);

  std::unique_ptr<State> state_;
  std::string host_;
  std::string error_;
  bool ended_ = false;  // the connection ended (receive_end)
};

// The TLS library's name and version, e.g. "OpenSSL 3.0.19 29 Sep 2026": which implementation
// these calls really run on, whatever else the process has loaded.
HEPINFER_TLS_API std::string library_version();

}  // namespace hepinfer::remote::tls
