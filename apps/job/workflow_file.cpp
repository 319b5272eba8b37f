#include "job/workflow_file.h"

#include <set>

#include "hepinfer/core/error.h"
#include "hepinfer/core/file_read.h"
#include "yaml-cpp/yaml.h"

namespace hepinfer::framework {

using scheduler::Claim;
using scheduler::GpuDevice;
using scheduler::Inventory;
using scheduler::Policy;

namespace {

// Reads one YAML document, turning every problem into an error that names source, line and field.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  YAML::Node load(const std::string& text) const {
    try {
      return YAML::Load(text);
    } catch (const YAML::ParserException& error) {
      throw InvalidArgumentError("'" + source_ + "' line " + std::to_string(error.mark.line + 1) +
                                 ": not valid YAML: " + error.msg);
    }
  }

  [[noreturn]] void fail(const YAML::Node& node, const std::string& field, const std::string& what) const {
    const int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
    throw InvalidArgumentError("'" + source_ + "'" + (line > 0 ? " line " + std::to_string(line) : "") + ": " +
                               field + ": " + what);
  }

  // A mapping's key as text; a list or mapping used as a key is an error, not an exception
  // from yaml-cpp.
  std::string key_of(const YAML::Node& key, const std::string& field) const {
    if (!key.IsScalar()) fail(key, field, "expected a field name, got a list or mapping as a key");
    return key.Scalar();
  }

  void only_keys(const YAML::Node& map, const std::string& field, const std::set<std::string>& allowed) const {
    if (!map.IsMap()) fail(map, field, "expected a mapping");
    for (const auto& entry : map) {
      const std::string key = key_of(entry.first, field);
      if (!allowed.contains(key)) fail(entry.first, field + "." + key, "unknown field");
    }
  }

  template <class T>
  T scalar(const YAML::Node& node, const std::string& field, const char* expected) const {
    if (!node.IsScalar()) fail(node, field, std::string("expected ") + expected);
    try {
      return node.as<T>();
    } catch (const YAML::Exception&) {
      fail(node, field, std::string("expected ") + expected + ", got '" + node.Scalar() + "'");
    }
  }

  // An integer of at least `minimum`.
  template <class T>
  T at_least(const YAML::Node& node, const std::string& field, T minimum) const {
    const T value = scalar<T>(node, field, "an integer");
    if (value < minimum) {
      fail(node, field, "expected at least " + std::to_string(minimum) + ", got " + node.Scalar());
    }
    return value;
  }

  // One of `names`, as the value at the same index of `values`.
  template <class T>
  T one_of(const YAML::Node& node, const std::string& field, const std::vector<std::string_view>& names,
           const std::vector<T>& values) const {
    std::string expected;
    for (std::size_t i = 0; i < names.size(); ++i) {
      expected += std::string(i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + std::string(names[i]);
    }
    const auto name = scalar<std::string>(node, field, expected.c_str());
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (name == names[i]) return values[i];
    }
    fail(node, field, "expected " + expected + ", got '" + name + "'");
  }

  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

Claim read_claim(const Reader& reader, const YAML::Node& node, const std::string& field, const std::string& module) {
  reader.only_keys(node, field, {"gpus", "prefer", "memory_mib", "memory_per_gpu_mib", "cpu_fallback", "priority",
                                 "calls_per_second", "typical_batch_size", "memory_per_sample_mib", "remote",
                                 "served_as", "served_version"});
  Claim claim;
  claim.module = module;
  claim.gpus = node["gpus"] ? reader.scalar<int>(node["gpus"], field + ".gpus", "an integer") : 1;
  if (const auto prefer = node["prefer"]) {
    if (!prefer.IsSequence()) reader.fail(prefer, field + ".prefer", "expected a list of GPU ids");
    for (std::size_t i = 0; i < prefer.size(); ++i) {
      claim.preferred.push_back(reader.scalar<int>(prefer[i], field + ".prefer[" + std::to_string(i) + "]", "a GPU id"));
    }
  }
  if (node["memory_mib"]) claim.memory_mib = reader.scalar<std::int64_t>(node["memory_mib"], field + ".memory_mib", "an integer (MiB)");
  if (node["memory_per_gpu_mib"]) {
    claim.memory_per_gpu_mib =
        reader.scalar<std::int64_t>(node["memory_per_gpu_mib"], field + ".memory_per_gpu_mib", "an integer (MiB)");
  }
  if (node["cpu_fallback"]) claim.cpu_fallback = reader.scalar<bool>(node["cpu_fallback"], field + ".cpu_fallback", "true or false");
  if (node["priority"]) claim.priority = reader.scalar<int>(node["priority"], field + ".priority", "an integer");
  if (node["calls_per_second"]) {
    claim.expected_calls_per_second = reader.scalar<double>(node["calls_per_second"], field + ".calls_per_second", "a number");
  }
  if (node["typical_batch_size"]) {
    claim.typical_batch_size =
        reader.scalar<std::int64_t>(node["typical_batch_size"], field + ".typical_batch_size", "an integer (rows)");
  }
  if (node["memory_per_sample_mib"]) {
    claim.memory_per_sample_mib =
        reader.scalar<double>(node["memory_per_sample_mib"], field + ".memory_per_sample_mib", "a number (MiB)");
  }
  if (const auto remote = node["remote"]) {
    const auto name = reader.scalar<std::string>(remote, field + ".remote", "prefer, only or never");
    const std::optional<scheduler::RemotePolicy> parsed = scheduler::parse_remote_policy(name);
    if (!parsed) reader.fail(remote, field + ".remote", "expected prefer, only or never, got '" + name + "'");
    claim.remote = *parsed;
    claim.served_model = module;  // unless served_as says otherwise
  }
  if (node["served_as"]) {
    claim.served_model.name =
        reader.scalar<std::string>(node["served_as"], field + ".served_as", "a served model name");
  }
  if (node["served_version"]) {
    claim.served_model.version =
        reader.scalar<std::string>(node["served_version"], field + ".served_version", "a model version, e.g. 3");
    if (claim.served_model.version.empty() || claim.served_model.version.find_first_of("/?# ") != std::string::npos) {
      reader.fail(node["served_version"], field + ".served_version",
                  "a version is not empty and holds no '/', '?', '#' or space");
    }
  }
  return claim;
}

const std::vector<ModuleKind> kKinds = {ModuleKind::kJetTagger, ModuleKind::kEventClassifier, ModuleKind::kParticleFlow};
const std::vector<ExecutionMode> kModes = {ExecutionMode::kSync, ExecutionMode::kAsync};

template <class T>
std::vector<std::string_view> names_of(const std::vector<T>& values, std::string_view (*name)(T)) {
  std::vector<std::string_view> names;
  for (const T value : values) names.push_back(name(value));
  return names;
}

void read_module_settings(const Reader& reader, const YAML::Node& node, const std::string& field, ModuleConfig& module) {
  reader.only_keys(node, field,
                   {"kind", "mode", "batching", "batch_rows", "batch_delay_us", "batches_in_flight", "split_rows",
                    "cpu_memory_budget_mib"});
  ModuleSettings& settings = module.settings;
  if (const auto kind = node["kind"]) {
    module.kind = reader.one_of(kind, field + ".kind", names_of(kKinds, &module_kind_name), kKinds);
  }
  if (const auto mode = node["mode"]) {
    settings.mode = reader.one_of(mode, field + ".mode", names_of(kModes, &execution_mode_name), kModes);
  }
  if (node["batching"]) settings.batching = reader.scalar<bool>(node["batching"], field + ".batching", "true or false");
  if (node["batch_rows"]) {
    settings.batch_rows = reader.at_least<std::int64_t>(node["batch_rows"], field + ".batch_rows", 1);
  }
  if (node["batch_delay_us"]) {
    settings.batch_delay = std::chrono::microseconds(
        reader.at_least<std::int64_t>(node["batch_delay_us"], field + ".batch_delay_us", 0));
  }
  if (node["batches_in_flight"]) {
    settings.batches_in_flight = reader.at_least<int>(node["batches_in_flight"], field + ".batches_in_flight", 1);
  }
  if (node["split_rows"]) {
    settings.split_rows = reader.at_least<std::int64_t>(node["split_rows"], field + ".split_rows", 0);
  }
  if (node["cpu_memory_budget_mib"]) {
    settings.cpu_memory_budget_mib =
        reader.at_least<std::int64_t>(node["cpu_memory_budget_mib"], field + ".cpu_memory_budget_mib", 0);
  }
  if (settings.mode == ExecutionMode::kAsync && !settings.batching) {
    reader.fail(node["mode"], field + ".mode",
                "async needs batching: true (the batcher is the external worker that completes the request)");
  }
}

JobSettings read_job_settings(const Reader& reader, const YAML::Node& node) {
  reader.only_keys(node, "job", {"events", "streams", "threads", "seed"});
  JobSettings job;
  if (node["events"]) job.events = reader.at_least<std::int64_t>(node["events"], "job.events", 0);
  if (node["streams"]) job.streams = reader.at_least<int>(node["streams"], "job.streams", 1);
  if (node["threads"]) job.threads = reader.at_least<int>(node["threads"], "job.threads", 1);
  if (node["seed"]) job.seed = reader.scalar<std::uint64_t>(node["seed"], "job.seed", "an integer");
  return job;
}

}  // namespace

std::string_view module_kind_name(ModuleKind kind) {
  switch (kind) {
    case ModuleKind::kJetTagger: return "jet_tagger";
    case ModuleKind::kEventClassifier: return "event_classifier";
    case ModuleKind::kParticleFlow: return "particle_flow";
  }
  return "unknown";
}

std::string_view execution_mode_name(ExecutionMode mode) {
  return mode == ExecutionMode::kAsync ? "async" : "sync";
}

std::vector<Claim> WorkflowConfig::claims() const {
  std::vector<Claim> result;
  for (const ModuleConfig& module : modules) result.push_back(module.claim);
  return result;
}

namespace {

WorkflowConfig parse_workflow_document(const std::string& text, const std::string& source) {
  const Reader reader(source);
  const YAML::Node root = reader.load(text);
  if (!root.IsMap()) throw InvalidArgumentError("'" + source + "': a workflow file is a mapping with 'modules'");
  reader.only_keys(root, "workflow", {"policy", "headroom_mib", "servers", "modules", "job"});
  WorkflowConfig config;
  config.source = source;
  if (root["job"]) config.job = read_job_settings(reader, root["job"]);
  if (const auto policy = root["policy"]) {
    const auto name = reader.scalar<std::string>(policy, "policy", "pack or spread");
    const std::optional<Policy> parsed = scheduler::parse_policy(name);
    if (!parsed) reader.fail(policy, "policy", "expected pack or spread, got '" + name + "'");
    config.plan.policy = *parsed;
  }
  if (root["headroom_mib"]) config.plan.headroom_mib = reader.scalar<std::int64_t>(root["headroom_mib"], "headroom_mib", "an integer (MiB)");
  if (const YAML::Node servers = root["servers"]) {
    if (!servers.IsSequence()) reader.fail(servers, "servers", "expected a list of {name, url}");
    for (std::size_t i = 0; i < servers.size(); ++i) {
      const std::string field = "servers[" + std::to_string(i) + "]";
      reader.only_keys(servers[i], field,
                       {"name", "url", "ca_file", "certificate_file", "private_key_file", "token_file"});
      if (!servers[i]["name"]) reader.fail(servers[i], field + ".name", "missing");
      if (!servers[i]["url"]) reader.fail(servers[i], field + ".url", "missing");
      ServerPlacement server{reader.scalar<std::string>(servers[i]["name"], field + ".name", "a server name"),
                             reader.scalar<std::string>(servers[i]["url"], field + ".url", "http://HOST:PORT")};
      if (server.url.rfind("http://", 0) != 0 && server.url.rfind("https://", 0) != 0) {
        reader.fail(servers[i]["url"], field + ".url", "expected http://HOST:PORT or https://HOST:PORT");
      }
      for (auto [key, value] : {std::pair{"ca_file", &server.tls.ca_file}, std::pair{"certificate_file", &server.tls.certificate_file},
                                std::pair{"private_key_file", &server.tls.private_key_file}}) {
        if (!servers[i][key]) continue;
        if (server.url.rfind("https://", 0) != 0) reader.fail(servers[i][key], field + "." + key, "only for https:// servers");
        *value = reader.scalar<std::string>(servers[i][key], field + "." + key, "a PEM file");
      }
      if (servers[i]["token_file"]) {
        server.token_file = reader.scalar<std::string>(servers[i]["token_file"], field + ".token_file",
                                                       "a file holding a bearer token");
      }
      for (const ServerPlacement& earlier : config.servers) {
        if (earlier.name == server.name) reader.fail(servers[i]["name"], field + ".name", "'" + server.name + "' is listed twice");
      }
      config.servers.push_back(std::move(server));
    }
  }
  const YAML::Node modules = root["modules"];
  if (!modules || !modules.IsSequence()) {
    if (modules) reader.fail(modules, "modules", "expected a list of modules");
    throw InvalidArgumentError("'" + source + "': modules: missing");
  }
  for (std::size_t i = 0; i < modules.size(); ++i) {
    const std::string field = "modules[" + std::to_string(i) + "]";
    const YAML::Node entry = modules[i];
    reader.only_keys(entry, field, {"name", "model", "claim", "settings"});
    if (!entry["name"]) reader.fail(entry, field + ".name", "missing");
    ModuleConfig module;
    module.line = entry.Mark().line + 1;
    module.name = reader.scalar<std::string>(entry["name"], field + ".name", "a module name");
    if (entry["model"]) module.model = reader.scalar<std::string>(entry["model"], field + ".model", "a model path");
    if (entry["claim"]) {
      module.claim = read_claim(reader, entry["claim"], field + ".claim", module.name);
    } else {
      module.claim.module = module.name;
      module.claim.gpus = 0;  // no claim: CPU only
    }
    if (entry["settings"]) read_module_settings(reader, entry["settings"], field + ".settings", module);
    config.modules.push_back(std::move(module));
  }
  return config;
}

Inventory parse_inventory_document(const std::string& text, const std::string& source) {
  const Reader reader(source);
  const YAML::Node root = reader.load(text);
  if (!root.IsMap()) throw InvalidArgumentError("'" + source + "': an inventory file is a mapping with 'gpus'");
  reader.only_keys(root, "inventory", {"gpus"});
  Inventory inventory;
  const YAML::Node gpus = root["gpus"];
  if (!gpus) return inventory;
  if (!gpus.IsSequence()) reader.fail(gpus, "gpus", "expected a list of GPUs");
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    const std::string field = "gpus[" + std::to_string(i) + "]";
    reader.only_keys(gpus[i], field, {"id", "memory_mib", "name"});
    if (!gpus[i]["id"] || !gpus[i]["memory_mib"]) reader.fail(gpus[i], field, "needs id and memory_mib");
    GpuDevice gpu;
    gpu.id = reader.scalar<int>(gpus[i]["id"], field + ".id", "an integer");
    gpu.total_mib = reader.scalar<std::int64_t>(gpus[i]["memory_mib"], field + ".memory_mib", "an integer (MiB)");
    gpu.free_mib = gpu.total_mib;
    gpu.name = gpus[i]["name"] ? reader.scalar<std::string>(gpus[i]["name"], field + ".name", "a name") : "simulated";
    inventory.gpus.push_back(gpu);
  }
  return inventory;
}

// Whatever yaml-cpp still throws (a conversion the checks above did not foresee) becomes the
// same kind of error as every other malformed input.
template <class Parse>
auto parsed(Parse&& parse, const std::string& source) {
  try {
    return parse();
  } catch (const YAML::Exception& error) {
    throw InvalidArgumentError("'" + source + "'" +
                               (error.mark.line >= 0 ? " line " + std::to_string(error.mark.line + 1) : "") +
                               ": not a valid workflow or inventory: " + error.msg);
  }
}

}  // namespace

WorkflowConfig parse_workflow(const std::string& text, const std::string& source) {
  return parsed([&] { return parse_workflow_document(text, source); }, source);
}

Inventory parse_inventory(const std::string& text, const std::string& source) {
  return parsed([&] { return parse_inventory_document(text, source); }, source);
}

WorkflowConfig read_workflow(const std::filesystem::path& path) {
  return parse_workflow(read_regular_file(path, "workflow file"), path.string());
}

Inventory read_inventory(const std::filesystem::path& path) {
  return parse_inventory(read_regular_file(path, "inventory file"), path.string());
}

}  // namespace hepinfer::framework
