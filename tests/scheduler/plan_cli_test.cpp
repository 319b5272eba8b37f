// `hepinfer plan` and `hepinfer devices` end to end: JSON contract and one-line failures. Builds
// without TensorFlow.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "nlohmann/json.hpp"

namespace {

namespace fs = std::filesystem;

struct Result {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& path) {
  std::ifstream file(path);
  return std::string(std::istreambuf_iterator<char>(file), {});
}

class PlanCli : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("hepinfer_plan_" + std::to_string(::getpid()) + "_" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }

  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  }
  Result plan(const std::string& args) { return hepinfer("plan " + args); }
  Result hepinfer(const std::string& args) {
    const std::string command = std::string(HEPINFER_CLI) + " " + args + " >" + (dir / "out").string() + " 2>" +
                                (dir / "err").string();
    const int status = std::system(command.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(dir / "out"), slurp(dir / "err")};
  }
};

TEST_F(PlanCli, PrintsTheAllocationAsJson) {
  const auto workflow = write("wf.yaml", "headroom_mib: 1000\nmodules:\n  - name: big\n    claim: {gpus: 1, memory_mib: 6000, priority: 1}\n  - name: small\n    claim: {gpus: 1, memory_mib: 3000}\n  - name: cpu\n");
  const auto inventory = write("inv.yaml", "gpus: [{id: 0, memory_mib: 8000}, {id: 1, memory_mib: 8000}]\n");
  const Result result = plan(workflow.string() + " --inventory " + inventory.string() + " --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto json = nlohmann::json::parse(result.out);
  ASSERT_EQ(json["modules"].size(), 3u);
  EXPECT_EQ(json["modules"][0]["name"], "big");
  EXPECT_EQ(json["modules"][0]["devices"], nlohmann::json::array({0}));
  EXPECT_EQ(json["modules"][0]["memory_mib"], nlohmann::json::array({6000}));
  EXPECT_EQ(json["modules"][1]["devices"], nlohmann::json::array({1})) << "GPU 0 has 1000 MiB left after headroom";
  EXPECT_EQ(json["modules"][2]["on_cpu"], true);
  EXPECT_EQ(json["gpus"][0]["capacity_mib"], 7000);
  EXPECT_EQ(json["gpus"][0]["assigned_mib"], 6000);
  EXPECT_FALSE(json["modules"][1]["reason"].get<std::string>().empty());
}

TEST_F(PlanCli, ImpossibleClaimFailsWithOneLine) {
  const auto workflow = write("wf.yaml", "modules:\n  - name: greedy\n    claim: {gpus: 1, memory_mib: 9000, cpu_fallback: false}\n");
  const auto inventory = write("inv.yaml", "gpus: [{id: 0, memory_mib: 8000}]\n");
  const Result result = plan(workflow.string() + " --inventory " + inventory.string());
  EXPECT_NE(result.exit_code, 0);
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_NE(result.err.find("greedy"), std::string::npos) << result.err;
}

TEST_F(PlanCli, AWorkflowThatIsNotARegularFileFailsWithOneLine) {
  for (const std::string& path : {dir.string(), std::string("/dev/null")}) {
    const Result result = plan(path);
    EXPECT_NE(result.exit_code, 0);
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_NE(result.err.find("'" + path + "' is a"), std::string::npos) << result.err;
  }
}

TEST_F(PlanCli, MalformedWorkflowFailsWithLineAndField) {
  const auto workflow = write("wf.yaml", "modules:\n  - name: a\n    claim: {gpus: two}\n");
  const Result result = plan(workflow.string());
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("line 3: modules[0].claim.gpus"), std::string::npos) << result.err;
}

TEST_F(PlanCli, DevicesReportsThisMachine) {
  const Result json_result = hepinfer("devices --json");
  ASSERT_EQ(json_result.exit_code, 0) << json_result.err;
  const auto json = nlohmann::json::parse(json_result.out);
  ASSERT_TRUE(json["gpus"].is_array());
  for (const auto& gpu : json["gpus"]) {
    EXPECT_GT(gpu["total_mib"].get<std::int64_t>(), 0);
    EXPECT_LE(gpu["free_mib"].get<std::int64_t>(), gpu["total_mib"].get<std::int64_t>());
    EXPECT_FALSE(gpu["name"].get<std::string>().empty());
  }
  if (json["gpus"].empty()) EXPECT_FALSE(json["note"].get<std::string>().empty()) << "zero GPUs are explained";
  EXPECT_TRUE(json.contains("cuda_visible_devices"));
  // The PJRT CPU plugin's devices, or a note saying why there are none (a build without XLA).
  const auto& pjrt_cpu = json["pjrt"]["cpu"];
  ASSERT_TRUE(pjrt_cpu["devices"].is_array());
  if (pjrt_cpu["devices"].empty()) {
    EXPECT_FALSE(pjrt_cpu["note"].get<std::string>().empty());
  } else {
    EXPECT_EQ(pjrt_cpu["devices"][0]["kind"], "cpu");
  }

  const Result text = hepinfer("devices");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find(std::to_string(json["gpus"].size()) + " GPU(s)"), std::string::npos) << text.out;
}

TEST_F(PlanCli, WithoutAnInventoryPlansOnThisMachinesGpus) {
  const auto workflow = write("wf.yaml", "modules:\n  - name: tagger\n    claim: {gpus: 1, memory_mib: 1, cpu_fallback: true}\n");
  const Result devices = hepinfer("devices --json");
  const Result result = plan(workflow.string() + " --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["gpus"].size(), nlohmann::json::parse(devices.out)["gpus"].size());
  EXPECT_EQ(json["modules"][0]["on_cpu"], json["gpus"].empty());
}

TEST_F(PlanCli, TheExampleWorkflowPlansAsDocumented) {
  const std::string examples = HEPINFER_EXAMPLES_DIR;
  const Result result = plan(examples + "/workflows/three_modules.yaml --inventory " + examples +
                             "/workflows/two_gpus.yaml --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["modules"][0]["devices"], nlohmann::json::array({0}));
  EXPECT_EQ(json["modules"][1]["devices"], nlohmann::json::array({1})) << "spread";
  EXPECT_EQ(json["modules"][2]["on_cpu"], true);
}

// Its servers are on loopback ports nothing listens on here: every module is planned locally, and
// the reasons name each server and the pinned version.
TEST_F(PlanCli, TheServedExampleWorkflowSaysWhyEachModuleStaysLocal) {
  const Result result = plan(std::string(HEPINFER_EXAMPLES_DIR) + "/workflows/served_job.yaml --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto json = nlohmann::json::parse(result.out);
  ASSERT_EQ(json["servers"].size(), 2u);
  EXPECT_EQ(json["servers"][0]["name"], "oip-a");
  const std::string pinned = json["modules"][1]["reason"];
  EXPECT_NE(pinned.find("no server has 'mlp' version 2 ready (oip-a: "), std::string::npos) << pinned;
  EXPECT_TRUE(json["modules"][1]["servers"].empty());
  EXPECT_EQ(json["modules"][1]["served_version"], nullptr) << "set only for a module placed on a server";
}

}  // namespace
