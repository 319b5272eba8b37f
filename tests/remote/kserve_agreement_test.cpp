// The remote backend against a real KServe (tools/oip_server.py in .venv-kserve) serving every test
// model family, SavedModel and frozen graph: agreement with Python TensorFlow's reference outputs
// at every reference batch size (0, 1, 5, 67) in both encodings, plus the dynamic batcher in front
// of a served model. One server for the suite, on a free loopback port.

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <memory>

#include "hepinfer/batching/dynamic_batcher.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/npy.h"
#include "hepinfer/remote/remote_model.h"
#include "server_process.h"
#include "tensor_matchers.h"
#include "test_models.h"

namespace hepinfer::remote {
namespace {

using hepinfer::testing::free_loopback_port;
using hepinfer::testing::ServerProcess;
using namespace std::chrono_literals;

// A served model's tensors are named by signature keys (SavedModel) or node names (frozen graph:
// the manifest's "x:0" without ":0").
std::string served_name(const std::string& name) {
  const auto colon = name.rfind(':');
  return colon == std::string::npos ? name : name.substr(0, colon);
}

std::string model_name(const std::string& family, const std::string& format) {
  return format == "saved_model" ? family : family + "_frozen";
}

std::vector<std::pair<std::string, std::string>> served_models() {
  std::vector<std::pair<std::string, std::string>> served;  // (family, format)
  for (const test::TestModel& model : test::test_models()) {
    for (const char* format : {"saved_model", "frozen_graph"}) {
      if (model.formats.contains(format)) served.emplace_back(model.name, format);
    }
  }
  return served;
}

// The server, started once for the whole program (both suites below use it).
class KServeServer : public ::testing::Environment {
 public:
  void SetUp() override {
    if (!std::filesystem::exists(HEPINFER_KSERVE_PYTHON)) {
      setup_error_ = std::string("no KServe environment at ") + HEPINFER_KSERVE_PYTHON + ": run scripts/setup_kserve.sh";
      return;
    }
    const int port = free_loopback_port();
    std::vector<std::string> argv = {HEPINFER_KSERVE_PYTHON, HEPINFER_OIP_SERVER, "--http-port", std::to_string(port)};
    for (const auto& [family, format] : served_models()) {
      argv.insert(argv.end(), {"--model", test::test_model(family).formats.at(format).path, "--name",
                               model_name(family, format)});
    }
    try {
      server_ = std::make_unique<ServerProcess>(argv, "oip_server: serving", std::chrono::seconds(240));
      url_ = "http://127.0.0.1:" + std::to_string(port);
    } catch (const std::exception& error) {
      setup_error_ = error.what();
    }
  }
  void TearDown() override { server_.reset(); }

  static std::unique_ptr<ServerProcess> server_;
  static std::string url_;
  static std::string setup_error_;
};
std::unique_ptr<ServerProcess> KServeServer::server_;
std::string KServeServer::url_;
std::string KServeServer::setup_error_;
const auto* const kserve_environment = ::testing::AddGlobalTestEnvironment(new KServeServer);

class KServeAgreement : public ::testing::TestWithParam<std::pair<std::string, std::string>> {
 protected:
  void SetUp() override { ASSERT_TRUE(KServeServer::setup_error_.empty()) << KServeServer::setup_error_; }
  const std::string& url_ = KServeServer::url_;
};

bool carries_float16(const ModelInfo& info) {
  const SignatureInfo& signature = info.signature(info.default_signature);
  for (const auto* side : {&signature.inputs, &signature.outputs}) {
    for (const TensorInfo& tensor : *side) {
      if (tensor.dtype == DType::kFloat16) return true;
    }
  }
  return false;
}

TEST_P(KServeAgreement, MatchesPythonInBothEncodingsAtEveryBatchSize) {
  const auto& [family, format] = GetParam();
  const test::TestModel& model = test::test_model(family);
  for (Encoding encoding : {Encoding::kBinary, Encoding::kJson}) {
    SCOPED_TRACE(std::string(encoding_name(encoding)));
    auto remote = connect({{"kserve", url_}}, model_name(family, format), {}, {.encoding = encoding});
    std::vector<std::string> outputs;
    for (const std::string& name : test::output_names(model, format)) outputs.push_back(served_name(name));
    if (encoding == Encoding::kJson && carries_float16(remote->info())) {
      // The protocol gives FP16 no JSON form: inputs are refused here, outputs by the server.
      std::vector<NamedTensor> inputs = test::reference_inputs(model, format, model.cases.back());
      for (NamedTensor& input : inputs) input.name = served_name(input.name);
      try {
        remote->run(inputs, outputs);
        ADD_FAILURE() << "float16 went through the JSON encoding";
      } catch (const Error& error) {
        const std::string message = error.what();
        EXPECT_TRUE(message.find("is float16, which the protocol's JSON encoding does not carry") != std::string::npos ||
                    message.find("Sending FP16 data via JSON is not supported") != std::string::npos)
            << message;
      }
      continue;
    }
    for (const test::ReferenceCase& reference : model.cases) {
      SCOPED_TRACE("batch " + std::to_string(reference.batch));
      std::vector<NamedTensor> inputs = test::reference_inputs(model, format, reference);
      for (NamedTensor& input : inputs) input.name = served_name(input.name);
      const std::vector<Tensor> got = remote->run(inputs, outputs);
      ASSERT_EQ(got.size(), model.outputs.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        SCOPED_TRACE("output " + model.outputs[i]);
        EXPECT_EQ(got[i].rows(), reference.batch);
        EXPECT_TENSORS_MATCH(got[i], read_npy(reference.outputs.at(model.outputs[i])), model.tolerance);
      }
    }
    EXPECT_EQ(remote->statistics().failed_requests, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryFamily, KServeAgreement, ::testing::ValuesIn(served_models()),
                         [](const auto& param) { return param.param.first + "_" + param.param.second; });

TEST_F(KServeAgreement, BatcherInFrontOfAServedModelCoalescesAndAgrees) {
  const test::TestModel& model = test::test_model("mlp");
  const test::ReferenceCase& reference = model.cases.at(2);  // 67 rows
  auto remote = std::shared_ptr<const Model>(connect({{"kserve", url_}}, "mlp"));
  batching::DynamicBatcher batcher(remote, {.max_batch_rows = 64, .max_delay = 5ms});
  const std::vector<NamedTensor> all = test::reference_inputs(model, "saved_model", reference);
  const Tensor expected = read_npy(reference.outputs.at(model.outputs.at(0)));
  std::vector<std::future<std::vector<Tensor>>> futures;
  for (std::int64_t row = 0; row < reference.batch; ++row) {
    std::vector<NamedTensor> one;
    for (const NamedTensor& input : all) one.push_back({input.name, input.tensor.slice_rows(row, row + 1)});
    futures.push_back(batcher.submit(std::move(one), {}));
  }
  for (std::int64_t row = 0; row < reference.batch; ++row) {
    const std::vector<Tensor> got = futures[static_cast<std::size_t>(row)].get();
    EXPECT_TENSORS_MATCH(got.at(0), expected.slice_rows(row, row + 1), model.tolerance);
  }
  EXPECT_LT(batcher.statistics().executions, reference.batch / 4);
}

// KServe answers 501 for every versioned URL: a pinned version is refused at connect, saying why.
TEST_F(KServeAgreement, APinnedVersionIsRefusedSayingKServeServesNone) {
  try {
    connect({{"kserve", url_}}, {"mlp", "1"});
    FAIL() << "KServe accepted a model version";
  } catch (const UnavailableError& error) {
    EXPECT_NE(std::string(error.what()).find("model 'mlp' version 1 is ready on no server"), std::string::npos)
        << error.what();
    EXPECT_NE(std::string(error.what()).find("serves no model versions (HTTP 501)"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace hepinfer::remote
