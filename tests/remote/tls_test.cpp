// The remote backend over TLS (https:// servers) against tests/remote/stub_oip_server.py speaking
// HTTPS through Python's ssl module, with certificates made for the test by
// make_test_certificates.sh: both transports (the I/O thread's pool and the caller's own
// connection), certificates that must be refused, mutual TLS, hostile replies, and which TLS
// library really runs. Every server listens on 127.0.0.1 only.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <optional>
#include <thread>

#include "hepinfer/core/error.h"
#include "hepinfer/remote/remote_model.h"
#include "hepinfer/remote/server_probe.h"
#include "caller_connection.h"
#include "http_pool.h"
#include "doubling_tensors.h"
#include "moody_stub.h"
#include "server_process.h"
#include "tls_engine.h"

namespace hepinfer::remote {
namespace {

using hepinfer::testing::expect_doubled;
using hepinfer::testing::rows_of;
using hepinfer::testing::ServerProcess;
using namespace std::chrono_literals;

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char pattern[] = "/tmp/hepinfer_tls_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    certificates_ = new std::filesystem::path(pattern);
    const std::string command = std::string("bash ") + HEPINFER_MAKE_CERTIFICATES + " " + certificates_->string() +
                                " > " + (*certificates_ / "log").string() + " 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << "making the test certificates failed: " << command;
    server_ = start("server").release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    if (certificates_) std::filesystem::remove_all(*certificates_);
    delete certificates_;
    certificates_ = nullptr;
  }

  static std::string file(const std::string& name) { return (*certificates_ / name).string(); }

  // A stub serving HTTPS with the certificate `name`.pem (and demanding a client certificate
  // signed by the test CA when `client_ca`).
  static std::unique_ptr<ServerProcess> start(const std::string& name, bool client_ca = false) {
    std::vector<std::string> argv{HEPINFER_TEST_PYTHON, HEPINFER_STUB_SERVER, "--tls", file(name + ".pem"),
                                  file(name + ".key")};
    if (client_ca) argv.insert(argv.end(), {"--client-ca", file("ca.pem")});
    return std::make_unique<ServerProcess>(argv, "port ", std::chrono::seconds(30));
  }
  static std::string https_url(const ServerProcess& server, const std::string& host = "127.0.0.1") {
    return "https://" + host + ":" + server.announced();
  }
  // The server as an endpoint trusting the test CA.
  static Endpoint trusted(const std::string& name, const std::string& url) { return {name, url, {.ca_file = file("ca.pem")}}; }

  static std::filesystem::path* certificates_;
  static ServerProcess* server_;
};
std::filesystem::path* TlsTest::certificates_ = nullptr;
ServerProcess* TlsTest::server_ = nullptr;

TEST_F(TlsTest, BothEncodingsAndBothTransportsAgreeOverHttps) {
  for (Encoding encoding : {Encoding::kBinary, Encoding::kJson}) {
    SCOPED_TRACE(std::string(encoding_name(encoding)));
    auto remote = connect({trusted("secure", https_url(*server_))}, "double", {}, {.encoding = encoding});
    for (std::int64_t rows : {1, 3, 5000}) {  // 5000 rows: 80 KB each way, several TLS records
      Tensor input = rows_of(rows);
      expect_doubled(input, remote->run({{"x", input}}, {}).at(0));
    }
    Tensor input = rows_of(7, 3.0f);
    expect_doubled(input, remote->submit({{"x", input}}, {}).get().at(0));
    const RemoteStatistics statistics = remote->statistics();
    EXPECT_GE(statistics.caller_thread_requests, 1) << "the caller's own connection ran TLS";
    EXPECT_LT(statistics.caller_thread_requests, statistics.requests) << "the I/O thread's pool ran TLS";
    EXPECT_EQ(statistics.failed_requests, 0);
  }
}

TEST_F(TlsTest, ConcurrentRequestersShareTlsConnections) {
  auto remote = connect({trusted("secure", https_url(*server_))}, "double", {}, {.max_connections_per_server = 4});
  constexpr int kThreads = 8, kRequests = 30;
  std::atomic<int> wrong{0}, answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRequests; ++r) {
        Tensor input = rows_of(1 + (t + r) % 5, static_cast<float>(t * 1000 + r));
        Tensor output = r % 2 == 0 ? remote->run({{"x", input}}, {}).at(0) : remote->submit({{"x", input}}, {}).get().at(0);
        auto in = input.values<float>();
        auto got = output.values<float>();
        for (std::size_t i = 0; i < in.size(); ++i) {
          if (got[i] != 2 * in[i]) ++wrong;
        }
        ++answered;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(answered.load(), kThreads * kRequests);
  EXPECT_EQ(remote->statistics().failed_requests, 0);
}

TEST_F(TlsTest, TheHostNameInTheUrlIsCheckedToo) {
  // The certificate names 127.0.0.1 and localhost: both work; the URL's host is what is checked.
  auto by_name = connect({trusted("secure", https_url(*server_, "localhost"))}, "double");
  Tensor input = rows_of(2);
  expect_doubled(input, by_name->run({{"x", input}}, {}).at(0));

  // A certificate for elsewhere.example.org, reached by IP address and by name.
  auto elsewhere = start("wrong_name");
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    const std::string error = message_of([&] { connect({trusted("misnamed", https_url(*elsewhere, host))}, "double"); });
    EXPECT_NE(error.find("server 'misnamed'"), std::string::npos) << error;
    EXPECT_NE(error.find("certificate was not accepted"), std::string::npos) << error;
    EXPECT_NE(error.find(host == "localhost" ? "hostname mismatch" : "IP address mismatch"), std::string::npos) << error;
  }

  // "localhost" only as the subject's common name, no subjectAltName: not a name for the server.
  auto common_name_only = start("common_name_only");
  const std::string error =
      message_of([&] { connect({trusted("cn", https_url(*common_name_only, "localhost"))}, "double"); });
  EXPECT_NE(error.find("hostname mismatch"), std::string::npos) << error;
}

// Without a ca_file: $SSL_CERT_FILE when set, else the system's bundle, which does not hold the
// test CA.
TEST_F(TlsTest, WithoutACaFileTheEnvironmentsOrTheSystemsCertificatesAreTrusted) {
  const char* saved_file = std::getenv("SSL_CERT_FILE");
  const std::string saved = saved_file ? saved_file : "";
  ::setenv("SSL_CERT_FILE", file("ca.pem").c_str(), 1);
  Tensor input = rows_of(2);
  expect_doubled(input, connect({{"by_environment", https_url(*server_)}}, "double")->run({{"x", input}}, {}).at(0));
  ::unsetenv("SSL_CERT_FILE");
  const char* saved_dir = std::getenv("SSL_CERT_DIR");
  const std::string saved_directory = saved_dir ? saved_dir : "";
  ::unsetenv("SSL_CERT_DIR");
  const std::string error = message_of([&] { connect({{"by_system", https_url(*server_)}}, "double"); });
  EXPECT_TRUE(error.find("certificate was not accepted") != std::string::npos ||
              error.find("found no system certificates") != std::string::npos)
      << error;
  if (saved_file) ::setenv("SSL_CERT_FILE", saved.c_str(), 1);
  if (saved_dir) ::setenv("SSL_CERT_DIR", saved_directory.c_str(), 1);
}

TEST_F(TlsTest, UntrustedCertificatesAreRefusedOnEveryPath) {
  auto untrusted = start("untrusted_server");
  const std::string url = https_url(*untrusted);
  try {
    connect({trusted("impostor", url)}, "double", {}, {.timeout = 2s});
    FAIL() << "connected to a server whose certificate no trusted CA signed";
  } catch (const UnavailableError& error) {
    const std::string text = error.what();
    EXPECT_NE(text.find("server 'impostor' (" + url + ")"), std::string::npos) << text;
    EXPECT_NE(text.find("certificate was not accepted"), std::string::npos) << text;
  }
  // The server is told why (an "unknown CA" alert), not just left by the client: the stub logs
  // each failed handshake, a moment after it happened.
  auto alerts_after = [&](std::size_t before) {
    std::size_t count = 0;
    for (int wait = 0; wait < 40; ++wait) {
      const std::string log = untrusted->log_text();
      count = 0;
      for (auto at = log.find("alert unknown ca"); at != std::string::npos; at = log.find("alert unknown ca", at + 1)) {
        ++count;
      }
      if (count > before) break;
      std::this_thread::sleep_for(50ms);
    }
    return count;
  };
  const std::size_t from_the_pool = alerts_after(0);
  EXPECT_GE(from_the_pool, 1u) << untrusted->log_text();
  // Without a CA file the system's trusted certificates apply, and the test CA is not one of them.
  EXPECT_THROW(connect({{"secure", https_url(*server_)}}, "double", {}, {.timeout = 2s}), UnavailableError);
  // The caller's own connection checks the certificate too.
  const detail::HttpTarget target = detail::server_target(url, {.ca_file = file("ca.pem")});
  detail::CallerConnection direct(target, detail::resolve_here(target), std::size_t{1} << 20);
  const detail::HttpReply reply = direct.exchange({.method = "GET", .path = "/v2/health/ready"}, 2s);
  EXPECT_EQ(reply.failure, detail::HttpFailure::kConnect);
  EXPECT_NE(reply.error.find("certificate was not accepted"), std::string::npos) << reply.error;
  EXPECT_GT(alerts_after(from_the_pool), from_the_pool) << "the caller's connection sends the alert too";
  // The planner's probe says why instead of throwing.
  const auto offers = probe_servers({trusted("impostor", url)}, {"double"}, 2000ms);
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_FALSE(offers[0].live);
  EXPECT_NE(offers[0].note.find("certificate was not accepted"), std::string::npos) << offers[0].note;
  const auto good = probe_servers({trusted("secure", https_url(*server_))}, {"double"}, 2000ms);
  ASSERT_TRUE(good.at(0).live) << good.at(0).note;
  EXPECT_EQ(good.at(0).ready_models, std::vector<ServedModel>{"double"});
}

TEST_F(TlsTest, ServersDemandingAClientCertificateGetOne) {
  auto strict = start("server", /*client_ca=*/true);
  const std::string url = https_url(*strict);
  try {
    connect({trusted("strict", url)}, "double", {}, {.timeout = 2s, .max_attempts = 1});
    ADD_FAILURE() << "a server demanding a client certificate accepted none";
  } catch (const UnavailableError& error) {
    EXPECT_NE(std::string(error.what()).find("server 'strict'"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("certificate"), std::string::npos) << error.what();
  }
  // With TLS 1.3 the server refuses only after the handshake, at the first read: the request still
  // moves on to a server that serves it.
  auto moving_on = connect({trusted("strict", url), trusted("open", https_url(*server_))}, "double", {},
                           {.backoff = 1ms});
  for (int i = 0; i < 3; ++i) {
    Tensor input = rows_of(2, static_cast<float>(i));
    expect_doubled(input, moving_on->run({{"x", input}}, {}).at(0));
  }
  EXPECT_EQ(moving_on->statistics().failed_requests, 0);
  Endpoint identified = trusted("strict", url);
  identified.tls.certificate_file = file("client.pem");
  identified.tls.private_key_file = file("client.key");
  auto remote = connect({identified}, "double");
  Tensor input = rows_of(3);
  expect_doubled(input, remote->run({{"x", input}}, {}).at(0));
  expect_doubled(input, remote->run({{"x", input}}, {}).at(0));
  expect_doubled(input, remote->submit({{"x", input}}, {}).get().at(0));
}

// With TLS 1.3 the refusal can reach the client while it is still sending: a large request then
// fails on a write (the server reset the connection), and the alert that came first says why, on
// both transports.
TEST_F(TlsTest, ARefusalThatBreaksALargeRequestStillSaysWhy) {
  auto strict = start("server", /*client_ca=*/true);
  const detail::HttpTarget target = detail::server_target(https_url(*strict), {.ca_file = file("ca.pem")});
  // 32 MB: far more than the kernel's socket buffers take before the server's reset arrives.
  const detail::HttpRequest request{.method = "POST", .path = "/v2/models/double/infer",
                                    .body = std::string(std::size_t{32} << 20, 'x'),
                                    .content_type = "application/octet-stream"};
  detail::CallerConnection direct(target, detail::resolve_here(target), std::size_t{1} << 20);
  const detail::HttpReply from_caller = direct.exchange(request, 5s);
  EXPECT_EQ(from_caller.failure, detail::HttpFailure::kIo) << from_caller.error;
  EXPECT_NE(from_caller.error.find("certificate required"), std::string::npos) << from_caller.error;

  boost::asio::io_context io;
  detail::HttpPool pool(io, target, 1, std::size_t{1} << 20);
  std::optional<detail::HttpReply> from_pool;
  pool.send(std::make_shared<const detail::HttpRequest>(request), 5s,
            [&](detail::HttpReply reply) { from_pool = std::move(reply); });
  io.run();
  ASSERT_TRUE(from_pool.has_value());
  EXPECT_EQ(from_pool->failure, detail::HttpFailure::kIo) << from_pool->error;
  EXPECT_NE(from_pool->error.find("certificate required"), std::string::npos) << from_pool->error;
}

TEST_F(TlsTest, UnusableTlsFilesAreInvalidArguments) {
  const std::string url = https_url(*server_);
  auto attempt = [&](TlsOptions tls) {
    return message_of([&] {
      try {
        connect({{"secure", url, tls}}, "double");
      } catch (const InvalidArgumentError&) {
        throw;
      } catch (const std::exception& other) {
        ADD_FAILURE() << "not an InvalidArgumentError: " << other.what();
      }
    });
  };
  std::string error = attempt({.ca_file = file("missing.pem")});
  EXPECT_NE(error.find("missing.pem"), std::string::npos) << error;
  EXPECT_NE(error.find(url), std::string::npos) << error;
  error = attempt({.ca_file = file("ca.pem"), .certificate_file = file("client.pem"), .private_key_file = file("server.key")});
  EXPECT_NE(error.find("does not match"), std::string::npos) << error;
  error = attempt({.ca_file = file("ca.pem"), .private_key_file = file("client.key")});
  EXPECT_NE(error.find("without a client certificate"), std::string::npos) << error;
  error = attempt({.ca_file = file("ca.pem"), .certificate_file = file("client.pem"),
                   .private_key_file = file("client_encrypted.key")});
  EXPECT_NE(error.find("is encrypted"), std::string::npos) << error;  // and no pass phrase prompt
  error = attempt({.ca_file = file("log")});  // a file holding no certificate
  EXPECT_NE(error.find("log"), std::string::npos) << error;
}

TEST_F(TlsTest, WrongSchemeForTheServerFailsFastAndTyped) {
  // https:// to a plain HTTP server, and http:// to a TLS server: both end in a typed error within
  // the timeout, never a hang.
  ServerProcess plain({HEPINFER_TEST_PYTHON, HEPINFER_STUB_SERVER}, "port ", std::chrono::seconds(30));
  const auto start_time = std::chrono::steady_clock::now();
  const std::string to_plain = message_of([&] {
    connect({trusted("plain", "https://127.0.0.1:" + plain.announced())}, "double", {}, {.timeout = 2s});
  });
  EXPECT_NE(to_plain.find("TLS handshake"), std::string::npos) << to_plain;
  EXPECT_THROW(connect({{"secure", "http://127.0.0.1:" + server_->announced()}}, "double", {}, {.timeout = 2s}),
               Error);
  EXPECT_LT(std::chrono::steady_clock::now() - start_time, 8s);
}

// A server that turns hostile over TLS: each broken reply fails exactly as over plain HTTP, on the
// caller's own connection as on the I/O thread's, and the same model is served well afterwards.
TEST_F(TlsTest, HostileRepliesOverTlsFailTypedOnBothPaths) {
  hepinfer::testing::expect_moods_fail_alike_on_both_paths([] {
    return connect({trusted("secure", https_url(*server_))}, "moody", {},
                   {.timeout = 300ms, .max_attempts = 1, .max_reply_bytes = std::size_t{8} << 20});
  });
}

TEST_F(TlsTest, AServerThatNeverAnswersTheHandshakeTimesOutOnBothPaths) {
  // Listens, never accepts: the kernel completes TCP connections, nothing speaks TLS on them.
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(listener, 16), 0);
  socklen_t length = sizeof address;
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  const std::string url = "https://127.0.0.1:" + std::to_string(ntohs(address.sin_port));

  auto start_time = std::chrono::steady_clock::now();
  EXPECT_THROW(connect({trusted("silent", url)}, "double", {}, {.timeout = 300ms, .max_attempts = 1}), UnavailableError);
  EXPECT_LT(std::chrono::steady_clock::now() - start_time, 3s);

  const detail::HttpTarget target = detail::server_target(url, {.ca_file = file("ca.pem")});
  detail::CallerConnection direct(target, detail::resolve_here(target), std::size_t{1} << 20);
  start_time = std::chrono::steady_clock::now();
  const detail::HttpReply reply = direct.exchange({.method = "GET", .path = "/v2/health/ready"}, 300ms);
  EXPECT_EQ(reply.failure, detail::HttpFailure::kTimeout) << reply.error;
  EXPECT_LT(std::chrono::steady_clock::now() - start_time, 3s);
  close(listener);
}

// Over plain HTTP a reply without a length ends where the connection does; over TLS that end must
// come as the server's close_notify, or the reply may have been cut short by anyone on the path.
TEST_F(TlsTest, AReplyEndedWithoutCloseNotifyIsNotTakenAsComplete) {
  ServerProcess plain({HEPINFER_TEST_PYTHON, HEPINFER_STUB_SERVER}, "port ", std::chrono::seconds(30));
  const Tensor input = rows_of(3);
  auto over_http = connect({{"plain", "http://127.0.0.1:" + plain.announced()}}, "close_delimited", {},
                           {.encoding = Encoding::kJson});
  expect_doubled(input, over_http->run({{"x", input}}, {}).at(0));

  auto over_tls = connect({trusted("secure", https_url(*server_))}, "close_delimited", {},
                          {.encoding = Encoding::kJson, .max_attempts = 1});
  for (int i = 0; i < 2; ++i) {
    const std::string error = message_of([&] { over_tls->run({{"x", input}}, {}); });
    EXPECT_NE(error.find("ended before the server closed the TLS session"), std::string::npos) << error;
  }
}

// The library answers for OpenSSL here; that it still does in a process running TensorFlow, whose
// library exports BoringSSL under the same names, tests/remote/job_failover_test.sh checks through
// the TensorFlow-linked CLI, and tls_library_exports checks the library's symbol tables.
TEST(TlsLibrary, RunsOnItsOwnOpenSsl) {
  EXPECT_EQ(tls::library_version().rfind("OpenSSL 3", 0), 0u) << tls::library_version();
}

}  // namespace
}  // namespace hepinfer::remote
