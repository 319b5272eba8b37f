// Memory models measured from TensorFlow's step statistics, batch limits derived from budgets,
// splitting over real TF models, and recovery from real TF out-of-memory errors: the process's
// address space is capped (setrlimit), so TF's CPU allocator fails as a full GPU would.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <fstream>

#include "hepinfer/batching/splitting_model.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/npy.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#include "tensor_matchers.h"
#include "test_models.h"

namespace hepinfer {
namespace {

using batching::SplitOptions;
using batching::SplittingModel;
using ::testing::HasSubstr;

constexpr std::int64_t kMiB = 1024 * 1024;

Tensor seeded_rows(std::int64_t rows, std::int64_t width) {
  Tensor x(DType::kFloat32, Shape({rows, width}));
  auto values = x.values<float>();
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>((i * 7919) % 1000) / 500.0f - 1.0f;
  return x;
}

std::shared_ptr<const Model> load_measured(const std::string& family) {
  return tf::load_model(test::test_model(family).formats.at("saved_model").path, {.measure_memory = true});
}

void expect_bit_identical(const Tensor& actual, const Tensor& expected) { EXPECT_TENSORS_MATCH(actual, expected, 0.0); }

TEST(MemoryModel, IsMeasuredAtLoadWhenAskedFor) {
  EXPECT_FALSE(tf::load_model(test::test_model("mlp").formats.at("saved_model").path)->info().memory.has_value());
  const auto mlp = load_measured("mlp");
  ASSERT_TRUE(mlp->info().memory.has_value());
  // 4 layers of 256 floats, each through MatMul, BiasAdd and Relu: kilobytes per row.
  EXPECT_GT(mlp->info().memory->bytes_per_row, 4 * 256 * 4);
  EXPECT_LT(mlp->info().memory->bytes_per_row, 256 * 1024);

  // The wide model tiles every row to 2^20 floats (TF computes their sine in place): 4 MiB a row.
  const auto wide = load_measured("wide");
  EXPECT_GE(wide->info().memory->bytes_per_row, 4 * kMiB);
  EXPECT_LT(wide->info().memory->bytes_per_row, 32 * kMiB);
}

TEST(MemoryModel, ProbeRowsAreChecked) {
  const std::string path = test::test_model("mlp").formats.at("saved_model").path;
  EXPECT_THROW(tf::load_model(path, {.measure_memory = true, .memory_probe_rows = {0, 8}}), InvalidArgumentError);
  EXPECT_THROW(tf::load_model(path, {.measure_memory = true, .memory_probe_rows = {8, 8}}), InvalidArgumentError);
}

// Bit for bit with TF's Eigen kernels. oneDNN's matrix products (TF's default on AVX-512 hosts,
// forced on elsewhere by test.sh's second pass) choose their blocking by the batch's rows, so on
// some CPUs (seen on an AVX2 AMD EPYC) a 64-row chunk and the 1000-row run differ in the last bit.
TEST(SplittingTensorFlowModels, SplitRunsEqualTheUnsplitRunBitForBit) {
  for (const std::string format : {"saved_model", "frozen_graph"}) {
    SCOPED_TRACE(format);
    const test::TestModel& family = test::test_model("mlp");
    const std::shared_ptr<const Model> mlp = tf::load_model(family.formats.at(format).path);
    const std::string input = family.formats.at(format).inputs.at("x");
    const Tensor x = seeded_rows(1000, 32);
    const auto unsplit = mlp->run({{input, x}}, {});
    SplittingModel split(mlp, {.max_batch_rows = 64});
    const auto outputs = split.run({{input, x}}, {});
    ASSERT_EQ(outputs.size(), unsplit.size());
    if (tf::onednn_enabled()) {
      EXPECT_TENSORS_MATCH(outputs[0], unsplit[0], 1e-6);
    } else {
      expect_bit_identical(outputs[0], unsplit[0]);
    }
    EXPECT_EQ(split.statistics().backend_runs, 16);
  }
}

TEST(SplittingTensorFlowModels, EveryFamilyAndDtypeSplitsLikeItsPythonReference) {
  for (const test::TestModel& family : test::test_models()) {
    for (const auto& [format, unused] : family.formats) {
      SCOPED_TRACE(family.name + " as " + format);
      SplittingModel split(tf::load_model(family.formats.at(format).path), {.max_batch_rows = 2});
      const test::ReferenceCase& reference = family.cases.back();  // 5 rows: chunks of 2, 2, 1
      const auto outputs = split.run(test::reference_inputs(family, format, reference), test::output_names(family, format));
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        EXPECT_TENSORS_MATCH(outputs[i], read_npy(reference.outputs.at(family.outputs[i])), family.tolerance);
      }
    }
  }
}

TEST(SplittingTensorFlowModels, TheBudgetSetsTheBatchLimit) {
  const auto wide = load_measured("wide");
  const MemoryModel memory = *wide->info().memory;
  SplittingModel split(wide, {.memory_budget_bytes = memory.bytes_for(12)});
  EXPECT_EQ(split.batch_limit(), 12);
  const Tensor x = seeded_rows(50, 8);
  expect_bit_identical(split.run({{"x", x}}, {})[0], wide->run({{"x", x}}, {})[0]);
  EXPECT_EQ(split.statistics().backend_runs, 5) << "ceil(50 / 12)";
  const std::string message = [&] {
    try {
      SplittingModel(wide, {.memory_budget_bytes = memory.bytes_per_row / 2});
    } catch (const ResourceExhaustedError& error) {
      return std::string(error.what());
    }
    return std::string();
  }();
  EXPECT_THAT(message, HasSubstr("cannot hold one row"));
}

std::int64_t address_space_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmSize:", 0) == 0) return std::stoll(line.substr(7)) * 1024;
  }
  return 0;
}

// Caps the process's address space for the scope, a little above what it uses now.
class AddressSpaceCap {
 public:
  explicit AddressSpaceCap(std::int64_t extra_bytes) {
    getrlimit(RLIMIT_AS, &saved_);
    rlimit capped = saved_;
    capped.rlim_cur = static_cast<rlim_t>(address_space_bytes() + extra_bytes);
    applied_ = setrlimit(RLIMIT_AS, &capped) == 0;
  }
  ~AddressSpaceCap() { setrlimit(RLIMIT_AS, &saved_); }
  bool applied() const { return applied_; }

 private:
  rlimit saved_{};
  bool applied_ = false;
};

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

TEST(OutOfMemoryRecovery, ARealTensorFlowOutOfMemoryIsRecoveredFrom) {
  if (kAddressSanitizer) GTEST_SKIP() << "AddressSanitizer's shadow memory needs more address space than the cap allows";
  const std::shared_ptr<const Model> wide = tf::load_model(test::test_model("wide").formats.at("saved_model").path);
  const Tensor x = seeded_rows(256, 8);  // about 2 GiB of scratch in one run
  const auto expected = SplittingModel(wide, {.max_batch_rows = 16}).run({{"x", x}}, {});

  std::vector<std::string> reports;
  SplittingModel split(wide, {.on_out_of_memory = [&](const std::string& message) { reports.push_back(message); }});
  std::vector<Tensor> outputs;
  {
    AddressSpaceCap cap(768 * kMiB);
    ASSERT_TRUE(cap.applied());
    EXPECT_THROW(wide->run({{"x", x}}, {}), ResourceExhaustedError) << "TF itself runs out of memory";
    outputs = split.run({{"x", x}}, {});
  }
  ASSERT_EQ(outputs.size(), 1u);
  expect_bit_identical(outputs[0], expected[0]);
  EXPECT_LT(split.batch_limit(), 256);
  EXPECT_GE(split.batch_limit(), 8);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_THAT(reports[0], HasSubstr("ran out of memory at 256 rows"));
}

}  // namespace
}  // namespace hepinfer
