// The remote backend against tests/remote/stub_oip_server.py: well-behaved models for the client's
// own logic (encodings, pooling, concurrency, failover, fallback) and hostile ones (malformed,
// truncated, oversized, slow, not HTTP). Every server listens on 127.0.0.1 only.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <chrono>
#include <future>
#include <limits>
#include <thread>

#include "hepinfer/batching/dynamic_batcher.h"
#include "hepinfer/core/error.h"
#include "hepinfer/remote/remote_model.h"
#include "hepinfer/remote/server_probe.h"
#include "doubling_tensors.h"
#include "error_message.h"
#include "http_pool.h"
#include "moody_stub.h"
#include "server_process.h"

namespace hepinfer::remote {
namespace {

using hepinfer::testing::expect_doubled;
using hepinfer::testing::rows_of;
using hepinfer::testing::ServerProcess;
using namespace std::chrono_literals;

std::unique_ptr<ServerProcess> start_stub() {
  return std::make_unique<ServerProcess>(
      std::vector<std::string>{HEPINFER_TEST_PYTHON, HEPINFER_STUB_SERVER}, "port ", std::chrono::seconds(30));
}

std::string url_of(const ServerProcess& server) { return "http://127.0.0.1:" + server.announced(); }

// A local model computing what the stub's "double" computes: the fallback.
class LocalDouble final : public Model {
 public:
  LocalDouble() {
    info_.path = "local double";
    info_.backend = "test";
    info_.default_signature = "serving_default";
    info_.signatures.push_back({"serving_default",
                                {{"x", "x", DType::kFloat32, Shape{-1, 4}}},
                                {{"y", "y", DType::kFloat32, Shape{-1, 4}}}});
  }
  const ModelInfo& info() const override { return info_; }
  std::vector<Tensor> run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>&,
                          const RunOptions& = {}) const override {
    Tensor out = inputs.at(0).tensor.clone();
    for (float& value : out.values<float>()) value *= 2;
    runs.fetch_add(1);
    return {out};
  }
  mutable std::atomic<int> runs{0};

 private:
  ModelInfo info_;
};

class RemoteStubTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = start_stub().release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::unique_ptr<RemoteModel> model(ServedModel name, RemoteOptions options = {}) {
    return connect({{"stub", url_of(*server_)}}, name, {}, std::move(options));
  }
  static ServerProcess* server_;
};
ServerProcess* RemoteStubTest::server_ = nullptr;

TEST_F(RemoteStubTest, ReadsMetadataAndRunsInBothEncodings) {
  for (Encoding encoding : {Encoding::kBinary, Encoding::kJson}) {
    auto remote = model("double", {.encoding = encoding});
    const ModelInfo& info = remote->info();
    EXPECT_EQ(info.backend, "remote");
    EXPECT_EQ(info.path, url_of(*server_) + "/v2/models/double");
    ASSERT_EQ(info.signatures.size(), 1u);
    EXPECT_EQ(info.signatures[0].inputs.at(0).shape, (Shape{-1, 4}));
    for (std::int64_t rows : {1, 3, 1000}) {
      Tensor input = rows_of(rows);
      auto outputs = remote->run({{"x", input}}, {});
      ASSERT_EQ(outputs.size(), 1u);
      expect_doubled(input, outputs[0]);
    }
    EXPECT_EQ(remote->statistics().servers.at(0).encoding, encoding);
  }
}

// The stub's "versioned" answers y = 2x as version 1 and y = 3x as version 2, its latest.
TEST_F(RemoteStubTest, APinnedVersionIsWhatEveryRequestAsksFor) {
  const Tensor input = rows_of(3);
  auto factor_of = [&](const RemoteModel& remote) {
    return remote.run({{"x", input}}, {}).at(0).values<float>()[1] / input.values<float>()[1];
  };
  for (Encoding encoding : {Encoding::kBinary, Encoding::kJson}) {
    auto first = model({"versioned", "1"}, {.encoding = encoding});
    EXPECT_EQ(first->info().path, url_of(*server_) + "/v2/models/versioned/versions/1");
    for (int run = 0; run < 3; ++run) EXPECT_FLOAT_EQ(factor_of(*first), 2.0f) << "run " << run;  // both transports
    EXPECT_FLOAT_EQ(factor_of(*model({"versioned", "2"}, {.encoding = encoding})), 3.0f);
    EXPECT_FLOAT_EQ(factor_of(*model("versioned", {.encoding = encoding})), 3.0f) << "no version: the server's latest";
  }
  const std::string missing = test::error_message_of<UnavailableError>([&] { model({"versioned", "7"}); });
  EXPECT_NE(missing.find("model 'versioned' version 7 is ready on no server"), std::string::npos) << missing;
  EXPECT_NE(missing.find("HTTP 404"), std::string::npos) << missing;
  EXPECT_THROW(model({"versioned", "1/infer"}), InvalidArgumentError);
  EXPECT_THROW(model({"versioned", "1?x"}), InvalidArgumentError);

  const auto offers =
      probe_servers({{"stub", url_of(*server_)}}, {{"versioned", "1"}, {"versioned", "9"}, "versioned"}, 2s);
  EXPECT_EQ(offers.at(0).ready_models, (std::vector<ServedModel>{{"versioned", "1"}, "versioned"}));

  auto reference = parse_model_reference(url_of(*server_) + "/v2/models/versioned/versions/1");
  EXPECT_FLOAT_EQ(factor_of(*connect(*reference)), 2.0f);
}

TEST_F(RemoteStubTest, EmptyBatchIsAnsweredFromMetadata) {
  auto remote = model("double");
  auto outputs = remote->run({{"x", Tensor(DType::kFloat32, Shape{0, 4})}}, {});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].shape(), (Shape{0, 4}));
  EXPECT_EQ(remote->statistics().servers.at(0).requests, 0);
}

TEST_F(RemoteStubTest, InvalidInputsFailBeforeTheNetwork) {
  auto remote = model("double");
  EXPECT_THROW(remote->run({{"x", Tensor(DType::kFloat64, Shape{2, 4})}}, {}), DTypeMismatchError);
  EXPECT_THROW(remote->run({{"x", Tensor(DType::kFloat32, Shape{2, 5})}}, {}), ShapeMismatchError);
  EXPECT_THROW(remote->run({{"nope", rows_of(1)}}, {}), NotFoundError);
  EXPECT_THROW(remote->run({{"x", rows_of(1)}}, {"z"}), NotFoundError);
  EXPECT_EQ(remote->statistics().servers.at(0).requests, 0);
}

// Inputs the JSON encoding cannot carry fail the call with the caller's error, whether the request
// goes out on the I/O thread or on the caller's (both once ended the process).
TEST_F(RemoteStubTest, InputsTheJsonEncodingCannotCarryAreTheCallersError) {
  auto remote = model("double", {.encoding = Encoding::kJson});
  Tensor not_a_number = rows_of(2);
  not_a_number.values<float>()[1] = std::numeric_limits<float>::quiet_NaN();
  // The first request goes out on the I/O thread; after a success, on the caller's.
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string message =
        test::error_message_of<UnsupportedError>([&] { remote->run({{"x", not_a_number}}, {}); });
    EXPECT_NE(message.find("server 'stub'"), std::string::npos) << message;
    EXPECT_NE(message.find("input 'x' holds NaN or infinity, which JSON cannot carry"), std::string::npos) << message;
    const Tensor input = rows_of(3);
    expect_doubled(input, remote->run({{"x", input}}, {}).at(0));
  }
  EXPECT_GE(remote->statistics().caller_thread_requests, 1);
}

TEST_F(RemoteStubTest, ServerRefusingBinaryIsSpokenToInJson) {
  auto remote = model("json_only");
  Tensor input = rows_of(5);
  expect_doubled(input, remote->run({{"x", input}}, {}).at(0));
  expect_doubled(input, remote->run({{"x", input}}, {}).at(0));
  const RemoteStatistics statistics = remote->statistics();
  EXPECT_EQ(statistics.servers.at(0).encoding, Encoding::kJson);
  EXPECT_EQ(statistics.servers.at(0).requests, 3);  // one binary refused, then JSON
  EXPECT_EQ(statistics.failed_requests, 0);
}

TEST_F(RemoteStubTest, ConcurrentRequestersShareThePool) {
  auto remote = model("double", {.max_connections_per_server = 4});
  constexpr int kThreads = 16, kRequests = 40;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRequests; ++r) {
        Tensor input = rows_of(1 + (t + r) % 7, static_cast<float>(t * 1000 + r));
        auto out = remote->run({{"x", input}}, {}).at(0);
        auto in = input.values<float>();
        auto got = out.values<float>();
        for (std::size_t i = 0; i < in.size(); ++i) {
          if (got[i] != 2 * in[i]) ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  const RemoteStatistics statistics = remote->statistics();
  EXPECT_EQ(statistics.requests, kThreads * kRequests);
  // Up to 4 driven by the I/O thread and up to 4 more of synchronous callers' own.
  EXPECT_LE(statistics.servers.at(0).connections_opened, 8);
  EXPECT_GT(statistics.caller_thread_requests, 0);
}

TEST_F(RemoteStubTest, SynchronousRunsAfterTheFirstStayOnTheCallersThread) {
  auto remote = model("double");
  Tensor input = rows_of(2);
  for (int i = 0; i < 50; ++i) expect_doubled(input, remote->run({{"x", input}}, {}).at(0));
  const RemoteStatistics statistics = remote->statistics();
  EXPECT_EQ(statistics.requests, 50);
  // The first goes through the I/O thread: nothing is known of the server before it answers.
  EXPECT_EQ(statistics.caller_thread_requests, 49);
  EXPECT_EQ(statistics.servers.at(0).requests, 50);
  EXPECT_EQ(statistics.servers.at(0).latency.count, 50u);
  // One connection for the I/O thread's first request, one for this caller's.
  EXPECT_EQ(statistics.servers.at(0).connections_opened, 2);
}

// A server that turns hostile after it has answered well: the requests that meet it go out from
// their caller's thread, on that caller's own connection, and must fail exactly as they do when
// the I/O thread sends them (each mood is first met by a fresh model, whose first request goes
// through the I/O thread). Afterwards the same model is served well again.
TEST_F(RemoteStubTest, TheCallersThreadPathFailsAsTheIoThreadDoesAndRecovers) {
  hepinfer::testing::expect_moods_fail_alike_on_both_paths([] {
    return model("moody", {.timeout = 300ms, .max_attempts = 1, .max_reply_bytes = std::size_t{8} << 20});
  });
}

TEST_F(RemoteStubTest, AsynchronousSubmitsCompleteOnceEach) {
  auto remote = model("double");
  constexpr int kRequests = 200;
  std::atomic<int> answered{0}, failed{0};
  std::promise<void> all_done;
  for (int i = 0; i < kRequests; ++i) {
    remote->submit({{"x", rows_of(2, static_cast<float>(i))}}, {}, [&](batching::BatchResult result) {
      if (result.error) ++failed;
      if (++answered == kRequests) all_done.set_value();
    });
  }
  ASSERT_EQ(all_done.get_future().wait_for(30s), std::future_status::ready);
  EXPECT_EQ(failed.load(), 0);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(answered.load(), kRequests);
}

TEST_F(RemoteStubTest, DynamicBatcherCoalescesIntoOneRequest) {
  auto remote = std::shared_ptr<const Model>(model("double"));
  batching::DynamicBatcher batcher(remote, {.max_batch_rows = 64, .max_delay = 20ms});
  std::vector<std::future<std::vector<Tensor>>> futures;
  std::vector<Tensor> inputs;
  for (int i = 0; i < 32; ++i) {
    inputs.push_back(rows_of(1, static_cast<float>(i)));
    futures.push_back(batcher.submit({{"x", inputs.back()}}, {}));
  }
  for (int i = 0; i < 32; ++i) expect_doubled(inputs[static_cast<std::size_t>(i)], futures[static_cast<std::size_t>(i)].get().at(0));
  EXPECT_LT(batcher.statistics().executions, 32);
  EXPECT_EQ(statistics_of(*remote)->servers.at(0).requests, batcher.statistics().executions);
}

TEST_F(RemoteStubTest, ServerErrorsAreTypedAndNameServerAndModel) {
  const Tensor input = rows_of(2);
  struct Case {
    std::string model;
    ErrorCode code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"bad_request", ErrorCode::kInvalidArgument, "input 'x' is bad"},
      {"garbage_json", ErrorCode::kBackend, "not valid JSON"},
      {"deep_json", ErrorCode::kBackend, "nested deeper"},
      {"huge_shape", ErrorCode::kBackend, "needs more bytes"},
      {"short_binary", ErrorCode::kBackend, "binary bytes"},
      {"bad_header", ErrorCode::kBackend, "is not a size"},
      {"header_beyond", ErrorCode::kBackend, "beyond the body"},
      {"wrong_dtype", ErrorCode::kDTypeMismatch, "came back as int32"},
      {"wrong_count", ErrorCode::kBackend, "needs 8"},
      {"bad_bool", ErrorCode::kBackend, "neither 0 nor 1"},
      {"oversized", ErrorCode::kResourceExhausted, "larger than"},
  };
  for (const Case& entry : cases) {
    SCOPED_TRACE(entry.model);
    auto remote = model(entry.model, {.max_reply_bytes = std::size_t{8} << 20});
    try {
      remote->run({{"x", input}}, {});
      ADD_FAILURE() << "no error";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), entry.code) << error.what();
      EXPECT_NE(std::string(error.what()).find(entry.says), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find("model '" + entry.model + "'"), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find("server 'stub'"), std::string::npos) << error.what();
    }
  }
}

TEST_F(RemoteStubTest, BrokenConnectionsFailAsUnavailableAfterRetries) {
  for (const std::string name : {"truncated", "not_http", "close", "unavailable"}) {
    SCOPED_TRACE(name);
    auto remote = model(name, {.max_attempts = 2, .backoff = 1ms});
    try {
      remote->run({{"x", rows_of(2)}}, {});
      ADD_FAILURE() << "no error";
    } catch (const UnavailableError& error) {
      EXPECT_NE(std::string(error.what()).find("no server answered after 2 attempts"), std::string::npos) << error.what();
    } catch (const BackendError& error) {
      EXPECT_EQ(name, "not_http") << error.what();  // garbage that parses as no HTTP at all is not retried
    }
  }
}

TEST_F(RemoteStubTest, SlowServerBeyondTheTimeoutIsADeadlineError) {
  auto remote = model("slow", {.timeout = 300ms, .max_attempts = 1});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(remote->run({{"x", rows_of(1)}}, {}), DeadlineExceededError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(RemoteConnect, UnreachableServersAreNamed) {
  // A port nothing listens on any more: a stub server's, after the stub is killed.
  ServerProcess stub({HEPINFER_TEST_PYTHON, HEPINFER_STUB_SERVER}, "port ", std::chrono::seconds(30));
  const std::string dead = url_of(stub);
  stub.kill();
  try {
    connect({{"gone", dead}}, "double", {}, {.timeout = 500ms});
    FAIL() << "connected to a dead server";
  } catch (const UnavailableError& error) {
    EXPECT_NE(std::string(error.what()).find("server 'gone' (" + dead + ")"), std::string::npos) << error.what();
  }
  EXPECT_THROW(connect({{"bad", "ftp://127.0.0.1:1"}}, "double"), InvalidArgumentError);
  EXPECT_THROW(connect({{"bad", "http://127.0.0.1"}}, "double"), InvalidArgumentError);
  EXPECT_THROW(connect({}, "double"), InvalidArgumentError);
  EXPECT_THROW(connect({{"a", dead}}, "a/b"), InvalidArgumentError);
}

TEST(ModelReferences, ParseUrlsAndRefuseMalformedOnes) {
  auto reference = parse_model_reference("http://127.0.0.1:8080/v2/models/jet_tagger");
  ASSERT_TRUE(reference);
  EXPECT_EQ(reference->server_url, "http://127.0.0.1:8080");
  EXPECT_EQ(reference->model, "jet_tagger");
  EXPECT_EQ(reference->model.version, "") << "no version: the server's choice";
  auto pinned = parse_model_reference("https://farm.example.org:8443/v2/models/jet_tagger/versions/3/");
  ASSERT_TRUE(pinned);
  EXPECT_EQ(pinned->server_url, "https://farm.example.org:8443");
  EXPECT_EQ(pinned->model, ServedModel("jet_tagger", "3"));
  auto ipv6 = parse_model_reference("http://[::1]:8000/v2/models/m");
  ASSERT_TRUE(ipv6);
  const detail::HttpTarget target = detail::parse_base_url(ipv6->server_url);
  EXPECT_EQ(target.host, "[::1]") << "as the Host header wants it";
  EXPECT_EQ(target.address(), "::1") << "as the resolver wants it";
  EXPECT_FALSE(parse_model_reference("models/mlp/saved_model"));
  EXPECT_TRUE(is_model_reference("http://x:1/v2/models/m"));
  EXPECT_FALSE(is_model_reference("/tmp/http://"));
  for (const char* bad : {"http://127.0.0.1:8080/v2/models/", "http://127.0.0.1/v2/models/m",
                          "http://127.0.0.1:8080/v2/models/m/versions/", "http://127.0.0.1:8080/v2/models/m/versions",
                          "http://127.0.0.1:8080/v2/models/m/versions/1/infer", "http://127.0.0.1:8080/v2/models/m?x=1",
                          "https://h/v2/models/m", "http://127.0.0.1:8080/models/m",
                          "http://127.0.0.1:99999/v2/models/m"}) {
    EXPECT_THROW(parse_model_reference(bad), InvalidArgumentError) << bad;
  }
}

TEST(RemoteConnect, AServerAtAnIpv6AddressIsReachedOnBothTransports) {
  std::unique_ptr<ServerProcess> server;
  try {
    server = std::make_unique<ServerProcess>(
        std::vector<std::string>{HEPINFER_TEST_PYTHON, HEPINFER_STUB_SERVER, "--ipv6"}, "port ",
        std::chrono::seconds(30));
  } catch (const std::exception& error) {
    GTEST_SKIP() << "no IPv6 loopback here: " << error.what();
  }
  auto remote = connect(*parse_model_reference("http://[::1]:" + server->announced() + "/v2/models/double"));
  for (int run = 0; run < 3; ++run) {  // the first on the I/O thread, then on the caller's
    const Tensor input = rows_of(2 + run);
    expect_doubled(input, remote->run({{"x", input}}, {}).at(0));
  }
  EXPECT_GE(remote->statistics().caller_thread_requests, 1);
}

// A stub behind "token authentication": every /v2/models request must carry the token its file
// holds at that moment.
class RemoteTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/hepinfer_token_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    directory_ = pattern;
    server_token_ = directory_ / "server_token";
    client_token_ = directory_ / "client_token";
    write(server_token_, "first-token\n");
    server_ = std::make_unique<ServerProcess>(
        std::vector<std::string>{HEPINFER_TEST_PYTHON, HEPINFER_STUB_SERVER, "--token-file", server_token_.string()},
        "port ", std::chrono::seconds(30));
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(directory_);
  }
  static void write(const std::filesystem::path& file, const std::string& contents) {
    std::ofstream(file, std::ios::trunc) << contents;
  }
  Endpoint with_token(const std::string& token_file) const { return {"gated", url_of(*server_), {}, token_file}; }

  std::filesystem::path directory_;
  std::filesystem::path server_token_;  // what the server takes now
  std::filesystem::path client_token_;  // what the client sends
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(RemoteTokenTest, RequestsCarryTheTokenAndARotatedOneIsReadAgain) {
  write(client_token_, "  first-token\n");  // white space around the token is not part of it
  auto remote = connect({with_token(client_token_)}, "double", {}, {.timeout = 2s, .backoff = 1ms});
  const Tensor input = rows_of(3);
  for (int run = 0; run < 3; ++run) expect_doubled(input, remote->run({{"x", input}}, {}).at(0));
  EXPECT_GE(remote->statistics().caller_thread_requests, 1) << "the token goes on the caller's thread too";
  bool listed = false;
  for (const auto& [key, value] : remote->info().load_details) listed = listed || key == "token (gated)";
  EXPECT_TRUE(listed);

  // The site rotates the token: the server wants the new one, the client's file holds it.
  write(server_token_, "second-token");
  write(client_token_, "second-token\n");
  for (int run = 0; run < 3; ++run) expect_doubled(input, remote->run({{"x", input}}, {}).at(0));
  RemoteStatistics statistics = remote->statistics();
  EXPECT_EQ(statistics.failed_requests, 0);
  ASSERT_FALSE(statistics.failovers.empty());
  EXPECT_NE(statistics.failovers.back().reason.find("token refused (HTTP 401)"), std::string::npos)
      << statistics.failovers.back().reason;

  // A token the server no longer takes, with nothing newer in the file: refused, typed.
  write(server_token_, "third-token");
  const std::string refused = test::error_message_of<PermissionDeniedError>([&] { remote->run({{"x", input}}, {}); });
  EXPECT_NE(refused.find("HTTP 401"), std::string::npos) << refused;

  const auto offers = probe_servers({with_token(client_token_)}, {"double"}, 2s);
  EXPECT_TRUE(offers.at(0).ready_models.empty()) << "the probe carries the (refused) token too";
  write(client_token_, "third-token");
  EXPECT_EQ(probe_servers({with_token(client_token_)}, {"double"}, 2s).at(0).ready_models,
            std::vector<ServedModel>{"double"});
}

TEST_F(RemoteTokenTest, MissingOrUnusableTokensAreTypedErrorsNamingTheFile) {
  const std::string without =
      test::error_message_of<PermissionDeniedError>([&] { connect({with_token("")}, "double"); });
  EXPECT_NE(without.find("access refused (HTTP 401) without a token"), std::string::npos) << without;
  write(client_token_, "stale-token");
  const std::string stale =
      test::error_message_of<PermissionDeniedError>([&] { connect({with_token(client_token_)}, "double"); });
  EXPECT_NE(stale.find("to the token in " + client_token_.string()), std::string::npos) << stale;

  EXPECT_THROW(connect({with_token((directory_ / "absent").string())}, "double"), FileNotFoundError);
  for (const char* contents : {"", " \n\n", "two\nlines", "has space", "bad\x01byte"}) {
    write(client_token_, contents);
    const std::string message =
        test::error_message_of<InvalidArgumentError>([&] { connect({with_token(client_token_)}, "double"); });
    EXPECT_NE(message.find(client_token_.string()), std::string::npos) << message;
  }
  write(client_token_, "fine");
  const std::string in_the_clear = test::error_message_of<InvalidArgumentError>(
      [&] { connect({{"far", "http://10.0.0.1:8000", {}, client_token_}}, "double"); });
  EXPECT_NE(in_the_clear.find("sent only over https"), std::string::npos) << in_the_clear;
}

TEST(RemoteFailover, KilledServerMidRunLosesNothingAndMovesToTheOther) {
  auto first = start_stub();
  auto second = start_stub();
  auto remote = connect({{"first", url_of(*first)}, {"second", url_of(*second)}}, "double", {},
                        {.timeout = 2s, .backoff = 1ms});
  constexpr int kThreads = 8, kRequests = 100;
  std::atomic<int> wrong{0}, errors{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRequests; ++r) {
        Tensor input = rows_of(3, static_cast<float>(t * 1000 + r));
        try {
          Tensor out = remote->run({{"x", input}}, {}).at(0);
          auto in = input.values<float>();
          auto got = out.values<float>();
          for (std::size_t i = 0; i < in.size(); ++i) {
            if (got[i] != 2 * in[i]) ++wrong;
          }
        } catch (const Error&) {
          ++errors;
        }
        ++done;
      }
    });
  }
  while (done.load() < kThreads * kRequests / 4) std::this_thread::sleep_for(1ms);
  first->kill();
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  const RemoteStatistics statistics = remote->statistics();
  EXPECT_EQ(statistics.requests, kThreads * kRequests);
  ASSERT_FALSE(statistics.failovers.empty());
  EXPECT_EQ(statistics.failovers.front().from, "first");
  EXPECT_EQ(statistics.failovers.front().to, "second");
  EXPECT_GT(statistics.servers.at(1).requests, 0);
}

TEST(RemoteFailover, LocalFallbackTakesOverWhenEveryServerIsGone) {
  auto server = start_stub();
  auto local = std::make_shared<LocalDouble>();
  auto remote = connect({{"only", url_of(*server)}}, "double", {},
                        {.timeout = 1s, .max_attempts = 2, .backoff = 1ms,
                         .local_fallback = [local] { return local; }, .local_fallback_name = "CPU"});
  Tensor input = rows_of(2);
  expect_doubled(input, remote->run({{"x", input}}, {}).at(0));
  EXPECT_EQ(local->runs.load(), 0);
  server->kill();
  for (int i = 0; i < 20; ++i) expect_doubled(input, remote->run({{"x", input}}, {}).at(0));
  EXPECT_EQ(local->runs.load(), 20);
  const RemoteStatistics statistics = remote->statistics();
  EXPECT_EQ(statistics.local_runs, 20);
  EXPECT_EQ(statistics.failed_requests, 0);
  ASSERT_FALSE(statistics.failovers.empty());
  EXPECT_EQ(statistics.failovers.back().to, "CPU");
}

TEST(ServerProbe, ReportsLiveServersAndTheirReadyModels) {
  auto server = start_stub();
  const auto offers = probe_servers({{"stub", url_of(*server)}, {"dead", "http://127.0.0.1:1"}},
                                    {"double", "missing"}, 1s);
  ASSERT_EQ(offers.size(), 2u);
  EXPECT_TRUE(offers[0].live);
  EXPECT_EQ(offers[0].ready_models, std::vector<ServedModel>{"double"});
  EXPECT_FALSE(offers[1].live);
  EXPECT_FALSE(offers[1].note.empty());
}

}  // namespace
}  // namespace hepinfer::remote
