// Workflow and inventory YAML: what is read, and errors that name the line and the field.

#include <gtest/gtest.h>

#include "hepinfer/core/error.h"
#include "job/workflow_file.h"

namespace hepinfer::framework {

using scheduler::Claim;
using scheduler::Inventory;
using scheduler::Policy;
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_workflow(text, "wf.yaml");
  } catch (const InvalidArgumentError& error) {
    return error.what();
  }
  ADD_FAILURE() << "accepted:\n" << text;
  return {};
}

TEST(WorkflowFile, ReadsPolicyHeadroomModulesAndClaims) {
  const WorkflowConfig config = parse_workflow(R"(
policy: spread
headroom_mib: 512
modules:
  - name: tagger
    model: models/tagger
    claim: {gpus: 2, memory_per_gpu_mib: 1024, cpu_fallback: false, priority: 3, calls_per_second: 40,
            typical_batch_size: 300, memory_per_sample_mib: 2.5}
  - name: pinned
    claim: {prefer: [1, 3], memory_mib: 4096}
  - name: classifier
)", "wf.yaml");
  EXPECT_EQ(config.plan.policy, Policy::kSpread);
  EXPECT_EQ(config.plan.headroom_mib, 512);
  ASSERT_EQ(config.modules.size(), 3u);
  const Claim& tagger = config.modules[0].claim;
  EXPECT_EQ(config.modules[0].model, "models/tagger");
  EXPECT_EQ(tagger.module, "tagger");
  EXPECT_EQ(tagger.gpus, 2);
  EXPECT_EQ(tagger.memory_per_gpu_mib, 1024);
  EXPECT_FALSE(tagger.cpu_fallback);
  EXPECT_EQ(tagger.priority, 3);
  EXPECT_EQ(tagger.expected_calls_per_second, 40);
  EXPECT_EQ(tagger.typical_batch_size, 300);
  EXPECT_EQ(tagger.memory_per_sample_mib, 2.5);
  EXPECT_EQ(config.modules[1].claim.preferred, (std::vector<int>{1, 3}));
  EXPECT_EQ(config.modules[2].claim.gpus, 0) << "no claim means CPU only";
  EXPECT_EQ(config.claims().size(), 3u);
}

TEST(WorkflowFile, ReadsServersAndRemoteClaims) {
  const WorkflowConfig config = parse_workflow(R"(
servers:
  - {name: kserve-a, url: "http://127.0.0.1:8601"}
  - {name: triton-b, url: "http://triton-b:8000"}
modules:
  - name: tagger
    model: tagger/saved_model
    claim: {gpus: 1, memory_mib: 1024, remote: prefer}
  - name: flow
    model: http://127.0.0.1:8601/v2/models/flow
    claim: {gpus: 0, remote: only, served_as: particle_flow}
  - name: pinned
    model: pinned/saved_model
    claim: {gpus: 0, remote: prefer, served_version: 3}
)", "wf.yaml");
  ASSERT_EQ(config.servers.size(), 2u);
  EXPECT_EQ(config.servers[1].name, "triton-b");
  EXPECT_EQ(config.servers[1].url, "http://triton-b:8000");
  EXPECT_EQ(config.modules[0].claim.remote, scheduler::RemotePolicy::kPrefer);
  EXPECT_EQ(config.modules[0].claim.served_model, "tagger") << "served under the module's name by default";
  EXPECT_EQ(config.modules[1].claim.remote, scheduler::RemotePolicy::kOnly);
  EXPECT_EQ(config.modules[1].claim.served_model, "particle_flow");
  EXPECT_EQ(config.modules[2].claim.served_model, ServedModel("pinned", "3")) << "a version pins it";

  const WorkflowConfig secure = parse_workflow(
      "servers:\n  - {name: a, url: \"https://a:1\", ca_file: /etc/site-ca.pem, certificate_file: me.pem,"
      " private_key_file: me.key, token_file: /run/secrets/token}\nmodules: [{name: m}]\n", "secure.yaml");
  EXPECT_EQ(secure.servers.at(0).token_file, "/run/secrets/token");
  EXPECT_EQ(secure.servers.at(0).tls.ca_file, "/etc/site-ca.pem");
  EXPECT_EQ(secure.servers.at(0).tls.certificate_file, "me.pem");
  EXPECT_EQ(secure.servers.at(0).tls.private_key_file, "me.key");

  for (const char* bad : {"servers: {name: a}\nmodules: [{name: m}]\n",
                          "servers: [{name: a, url: \"http://a:1\", ca_file: ca.pem}]\nmodules: [{name: m}]\n",
                          "servers: [{name: a, url: \"https://a:1\", ca_file: [x]}]\nmodules: [{name: m}]\n",
                          "servers: [{name: a, url: \"ftp://a:1\"}]\nmodules: [{name: m}]\n",
                          "servers: [{name: a, url: \"http://a:1\"}, {name: a, url: \"http://b:1\"}]\nmodules: [{name: m}]\n",
                          "servers: [{url: \"http://a:1\"}]\nmodules: [{name: m}]\n",
                          "modules: [{name: m, claim: {remote: sometimes}}]\n",
                          "modules: [{name: m, claim: {remote: only, served_version: \"3/infer\"}}]\n",
                          "modules: [{name: m, claim: {remote: only, served_version: [3]}}]\n"}) {
    EXPECT_THROW(parse_workflow(bad, "bad.yaml"), InvalidArgumentError) << bad;
  }
}

TEST(WorkflowFile, ReadsInventories) {
  const Inventory inventory = parse_inventory("gpus:\n  - {id: 0, memory_mib: 16384, name: A100}\n  - {id: 1, memory_mib: 8192}\n", "inv.yaml");
  ASSERT_EQ(inventory.gpus.size(), 2u);
  EXPECT_EQ(inventory.gpus[0].name, "A100");
  EXPECT_EQ(inventory.gpus[1].total_mib, 8192);
  EXPECT_EQ(inventory.gpus[1].free_mib, 8192);
  EXPECT_TRUE(parse_inventory("gpus: []\n", "inv.yaml").gpus.empty());
}

TEST(WorkflowFile, ErrorsNameLineAndField) {
  auto expect = [](const std::string& text, const std::string& part) {
    const std::string message = error_of(text);
    EXPECT_NE(message.find(part), std::string::npos) << message;
    EXPECT_NE(message.find("wf.yaml"), std::string::npos) << message;
  };
  expect("modules:\n  - name: a\n    claim: {gpus: 1, memory_mib: lots}\n", "line 3: modules[0].claim.memory_mib: expected an integer (MiB), got 'lots'");
  // Found by fuzz_workflow: a list used as a key made yaml-cpp throw past hepinfer's errors.
  expect("modules:\n  - name: a\n    claim: {gpus: 1, [1]}\n", "modules[0].claim: expected a field name, got a list or mapping as a key");
  expect("job: {[a]: 1}\nmodules: []\n", "job: expected a field name");
  expect("{[1]: 2}\n", "workflow: expected a field name");
  expect("modules:\n  - name: a\n    claim: {gpus: 1, memroy_mib: 10}\n", "line 3: modules[0].claim.memroy_mib: unknown field");
  expect("policy: random\nmodules: []\n", "line 1: policy: expected pack or spread");
  expect("modules:\n  - model: x\n", "modules[0].name: missing");
  expect("modules: {a: 1}\n", "modules: expected a list");
  expect("headroom_mib: 512\n", "modules: missing");
  expect("modules:\n  - name: a\n   bad indent: [\n", "not valid YAML");
  expect("- just\n- a list\n", "a workflow file is a mapping");
  expect("modules:\n  - name: a\n    claim: {cpu_fallback: maybe}\n", "cpu_fallback: expected true or false");
}

TEST(WorkflowFile, MissingFileIsFileNotFound) {
  EXPECT_THROW(read_workflow("/no/such/workflow.yaml"), FileNotFoundError);
  EXPECT_THROW(read_inventory("/no/such/inventory.yaml"), FileNotFoundError);
}

TEST(WorkflowFile, DuplicateModulesAreCaughtByPlanning) {
  const WorkflowConfig config = parse_workflow("modules:\n  - name: a\n  - name: a\n", "wf.yaml");
  EXPECT_THROW(make_plan(config.claims(), Inventory{}, config.plan), InvalidArgumentError);
}

}  // namespace
}  // namespace hepinfer::framework
