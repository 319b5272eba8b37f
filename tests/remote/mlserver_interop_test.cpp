// The remote backend against a real Seldon MLServer (tests/remote/serve_mlserver.py in
// .venv-mlserver serving tests/remote/mlserver_double): a second Open Inference Protocol
// implementation, JSON only — the client must notice that binary tensors are refused and speak
// JSON from then on. One server for the program, on a free loopback port.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>

#include "hepinfer/core/error.h"
#include "hepinfer/remote/remote_model.h"
#include "server_process.h"

namespace hepinfer::remote {
namespace {

using hepinfer::testing::free_loopback_port;
using hepinfer::testing::ServerProcess;

class MlServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(HEPINFER_MLSERVER_PYTHON)) {
      setup_error_ = std::string("no MLServer environment at ") + HEPINFER_MLSERVER_PYTHON +
                     ": run scripts/setup_mlserver.sh";
      return;
    }
    const int port = free_loopback_port();
    try {
      server_ = std::make_unique<ServerProcess>(
          std::vector<std::string>{HEPINFER_MLSERVER_PYTHON, HEPINFER_MLSERVER_SCRIPT, "--port", std::to_string(port)},
          "mlserver: serving", std::chrono::seconds(120));
      url_ = "http://127.0.0.1:" + std::to_string(port);
    } catch (const std::exception& error) {
      setup_error_ = error.what();
    }
  }
  static void TearDownTestSuite() { server_.reset(); }
  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  static std::unique_ptr<ServerProcess> server_;
  static std::string url_;
  static std::string setup_error_;
};
std::unique_ptr<ServerProcess> MlServer::server_;
std::string MlServer::url_;
std::string MlServer::setup_error_;

Tensor rows_of(std::int64_t rows, float start) {
  std::vector<float> values(static_cast<std::size_t>(rows * 4));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = start + 0.25f * static_cast<float>(i);
  return Tensor::from_values<float>(Shape{rows, 4}, values);
}

bool doubled(const Tensor& input, const Tensor& output) {
  if (output.shape() != input.shape()) return false;
  auto in = input.values<float>();
  auto out = output.values<float>();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (out[i] != 2 * in[i]) return false;
  }
  return true;
}

TEST_F(MlServer, BinaryIsRefusedOnceThenEverythingGoesAsJson) {
  auto model = connect({{"mlserver", url_}}, "double");
  const SignatureInfo& signature = model->info().signatures.at(0);
  EXPECT_EQ(signature.inputs.at(0).key, "x");
  EXPECT_EQ(signature.inputs.at(0).shape, (Shape{-1, 4}));
  EXPECT_EQ(signature.outputs.at(0).key, "y");
  for (std::int64_t rows : {1, 3, 1000, 0}) {
    const Tensor input = rows_of(rows, static_cast<float>(rows));
    EXPECT_TRUE(doubled(input, model->run({{"x", input}}, {}).at(0))) << rows << " rows";
  }
  const RemoteStatistics statistics = model->statistics();
  EXPECT_EQ(statistics.servers.at(0).encoding, Encoding::kJson);
  EXPECT_EQ(statistics.failed_requests, 0);
  ASSERT_EQ(statistics.failovers.size(), 1u);
  EXPECT_NE(statistics.failovers[0].reason.find("binary tensors refused"), std::string::npos);
  EXPECT_EQ(statistics.servers.at(0).requests, 4) << "3 requests (0 rows needs none) + the refused binary one";
}

TEST_F(MlServer, ConcurrentJsonRequestersAgree) {
  auto model = connect({{"mlserver", url_}}, "double", {}, {.encoding = Encoding::kJson});
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < 20; ++r) {
        const Tensor input = rows_of(1 + r % 5, static_cast<float>(100 * t + r));
        if (!doubled(input, model->run({{"x", input}}, {}).at(0))) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(model->statistics().requests, 160);
}

TEST_F(MlServer, APinnedVersionItServesRunsAndOneItDoesNotIsNamed) {
  auto model = connect({{"mlserver", url_}}, {"double", "1"});
  EXPECT_EQ(model->info().path, url_ + "/v2/models/double/versions/1");
  for (std::int64_t rows : {1, 7}) {
    const Tensor input = rows_of(rows, static_cast<float>(rows));
    EXPECT_TRUE(doubled(input, model->run({{"x", input}}, {}).at(0))) << rows << " rows";
  }
  EXPECT_EQ(model->statistics().failed_requests, 0);
  try {
    connect({{"mlserver", url_}}, {"double", "2"});
    FAIL() << "connected to a version MLServer does not serve";
  } catch (const UnavailableError& error) {
    EXPECT_NE(std::string(error.what()).find("model 'double' version 2 is ready on no server; server 'mlserver'"),
              std::string::npos)
        << error.what();
    EXPECT_NE(std::string(error.what()).find("HTTP 404"), std::string::npos) << error.what();
  }
}

TEST_F(MlServer, AModelItDoesNotServeIsNamedInTheError) {
  try {
    connect({{"mlserver", url_}}, "triple");
    FAIL() << "connected to a model MLServer does not serve";
  } catch (const UnavailableError& error) {
    EXPECT_NE(std::string(error.what()).find("model 'triple' is ready on no server; server 'mlserver'"),
              std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace hepinfer::remote
