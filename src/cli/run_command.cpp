// `hepinfer run [WORKFLOW.yaml] [--events N] [--streams S] [--threads T] ... [--json]`: runs a
// framework-like job (hepinfer/framework/job.h): modules claim devices, one plan, models loaded
// and warmed up, events processed by S streams on T threads, then a summary per module and for
// the job. Without a workflow file it runs the embedded demo job on the models the build
// generates (tools/make_demo_models.py). Ctrl-C stops after the events in flight and prints the
// partial summary.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "data_files.h"
#include "hepinfer/core/error.h"
#include "job/job.h"
#include "job/workflow_file.h"
#include "model_loader.h"
#include "plan_output.h"

namespace hepinfer::cli {
namespace {

// Set by the SIGINT handler: signals leave no other way in.
std::atomic<bool> stop_requested{false};

extern "C" void request_stop(int) {
  stop_requested.store(true);
  constexpr char message[] = "\nhepinfer: stopping after the events in flight (Ctrl-C again to abort)\n";
  [[maybe_unused]] const auto written = write(STDERR_FILENO, message, sizeof(message) - 1);
  signal(SIGINT, SIG_DFL);
}

// Installs the handler for the duration of the job and restores the previous one.
class InterruptGuard {
 public:
  InterruptGuard() {
    stop_requested.store(false);
    struct sigaction action{};
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_);
  }
  ~InterruptGuard() { sigaction(SIGINT, &previous_, nullptr); }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  struct sigaction previous_{};
};

// $HEPINFER_DEMO_MODELS, else the demo models next to this program (data_files.h).
std::filesystem::path default_models_directory() {
  if (const char* directory = std::getenv("HEPINFER_DEMO_MODELS")) return directory;
  return data_path("demo_models");
}

// A progress bar on a terminal; otherwise a plain line at every tenth of the events.
class ProgressPrinter {
 public:
  ProgressPrinter() : terminal_(isatty(STDERR_FILENO) == 1) {}

  void operator()(const framework::JobProgress& progress) {
    if (progress.events_total <= 0) return;
    const double fraction = static_cast<double>(progress.events_done) / static_cast<double>(progress.events_total);
    const double rate = progress.seconds > 0 ? static_cast<double>(progress.events_done) / progress.seconds : 0;
    if (terminal_) {
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(fraction * kWidth);
      std::cerr << "\r[" << std::string(static_cast<std::size_t>(filled), '#')
                << std::string(static_cast<std::size_t>(kWidth - filled), ' ') << "] " << progress.events_done << "/"
                << progress.events_total << " events, " << std::fixed << std::setprecision(1) << progress.seconds
                << " s, " << std::setprecision(0) << rate << " events/s   " << std::flush;
      drew_bar_ = true;
      return;
    }
    const int tenth = static_cast<int>(fraction * 10);
    if (tenth > last_tenth_) {
      last_tenth_ = tenth;
      std::cerr << "progress: " << progress.events_done << "/" << progress.events_total << " events, " << std::fixed
                << std::setprecision(1) << progress.seconds << " s\n";
    }
  }

  // Ends the bar's line, so that what follows starts on its own.
  void finish() const {
    if (drew_bar_) std::cerr << "\n";
  }

 private:
  bool terminal_;
  bool drew_bar_ = false;
  int last_tenth_ = -1;  // the first tick prints a line: the event loop has started
};

double mib(std::int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

nlohmann::json report_json(const framework::JobReport& report, const std::string& workflow,
                           const std::string& inventory) {
  nlohmann::json modules = nlohmann::json::array();
  for (const framework::ModuleReport& m : report.modules) {
    modules.push_back({
        {"name", m.name},
        {"kind", framework::module_kind_name(m.kind)},
        {"mode", framework::execution_mode_name(m.mode)},
        {"batching", m.batching},
        {"device", m.device},
        {"assigned_device", m.assigned_device},
        {"placement_note", m.placement_note},
        {"failovers", m.failovers},
        {"local_runs", m.local_runs},
        {"remote_retries", m.remote_retries},
        {"backend_device", m.backend_device},
        {"memory_budget_mib", m.memory_budget_bytes > 0 ? nlohmann::json(mib(m.memory_budget_bytes)) : nlohmann::json()},
        {"estimated_peak_mib", m.estimated_peak_bytes ? nlohmann::json(mib(*m.estimated_peak_bytes)) : nlohmann::json()},
        {"calls", m.calls},
        {"rows", m.rows},
        {"model_runs", m.model_runs},
        {"backend_runs", m.backend_runs},
        {"split_runs", m.split_runs},
        {"out_of_memory_retries", m.out_of_memory_retries},
        {"largest_backend_rows", m.largest_backend_rows},
        {"mean_batch_rows", m.mean_batch_rows},
        {"latency_p50_ms", m.latency_p50_us / 1000},
        {"latency_p99_ms", m.latency_p99_us / 1000},
        {"rows_per_second", m.rows_per_second},
        {"load_ms", m.load_ms},
        {"warmup_ms", m.warmup_ms},
        {"reference_events_checked", m.reference_events_checked},
        {"reference_max_difference", m.reference_max_difference},
        {"failed_checks", m.failed_checks},
        {"first_failure", m.first_failure},
        {"checksum", m.checksum},
    });
  }
  return {
      {"schema", "hepinfer-run/1"},
      {"backend", backend_description()},
      {"workflow", workflow},
      {"inventory", inventory},
      {"job",
       {{"events_requested", report.settings.events},
        {"events_processed", report.events_processed},
        {"streams", report.settings.streams},
        {"threads", report.settings.threads},
        {"seed", report.settings.seed},
        {"interrupted", report.interrupted},
        {"error", report.error},
        {"succeeded", report.succeeded()},
        {"failed_checks", report.failed_checks()},
        {"begin_job_s", report.begin_job_seconds},
        {"event_loop_s", report.event_loop_seconds},
        {"events_per_second", report.events_per_second},
        {"cpu_s", report.cpu_seconds},
        {"cpu_efficiency", report.cpu_efficiency},
        {"peak_rss_mib", mib(report.peak_rss_bytes)},
        {"peak_threads", report.peak_threads}}},
      {"plan", plan_json(report.plan)},
      {"modules", modules},
  };
}

std::string fixed(double value, int precision) {
  std::ostringstream text;
  text << std::fixed << std::setprecision(precision) << value;
  return text.str();
}

void print_summary(const framework::JobReport& report) {
  std::cout << "\n" << std::left << std::setw(18) << "module" << std::setw(16) << "device" << std::setw(14) << "mode"
            << std::right << std::setw(7) << "calls" << std::setw(10) << "rows" << std::setw(8) << "batch"
            << std::setw(9) << "p50 ms" << std::setw(9) << "p99 ms" << std::setw(11) << "rows/s" << std::setw(12)
            << "budget MiB" << std::setw(10) << "peak MiB" << "  checks\n";
  for (const framework::ModuleReport& m : report.modules) {
    const std::string mode = std::string(framework::execution_mode_name(m.mode)) + (m.batching ? "+batch" : "");
    std::string checks = m.failed_checks == 0 ? "ok" : std::to_string(m.failed_checks) + " FAILED";
    if (m.reference_events_checked > 0) checks += ", " + std::to_string(m.reference_events_checked) + " vs Python TF";
    std::cout << std::left << std::setw(18) << m.name << std::setw(16) << m.device << std::setw(14) << mode
              << std::right << std::setw(7) << m.calls << std::setw(10) << m.rows << std::setw(8)
              << fixed(m.mean_batch_rows, 1) << std::setw(9) << fixed(m.latency_p50_us / 1000, 2) << std::setw(9)
              << fixed(m.latency_p99_us / 1000, 2) << std::setw(11) << fixed(m.rows_per_second, 0) << std::setw(10)
              << (m.memory_budget_bytes > 0 ? fixed(mib(m.memory_budget_bytes), 0) : "-") << std::setw(10)
              << (m.estimated_peak_bytes ? fixed(mib(*m.estimated_peak_bytes), 2) : "-") << "  " << checks
              << "\n";
  }
  std::cout << "(batch: mean rows per model run; peak: memory model at the largest backend run, an upper bound)\n";
  for (const framework::ModuleReport& m : report.modules) {
    if (m.device != m.assigned_device && !m.assigned_device.empty()) {
      std::cout << m.name << ": the plan assigned " << m.assigned_device << ", it ran on " << m.device
                << (m.placement_note.empty() ? "" : ": " + m.placement_note) << "\n";
    }
    for (const std::string& failover : m.failovers) std::cout << m.name << ": moved at " << failover << "\n";
    if (m.local_runs > 0) {
      std::cout << m.name << ": " << m.local_runs << " requests ran on the local fallback\n";
    }
  }
  std::cout << "\n";
  std::cout << "job: " << report.events_processed << "/" << report.settings.events << " events in "
            << fixed(report.event_loop_seconds, 2) << " s = " << fixed(report.events_per_second, 1) << " events/s ("
            << report.settings.streams << " streams, " << report.settings.threads << " threads; begin job "
            << fixed(report.begin_job_seconds, 2) << " s)\n";
  std::cout << "CPU: " << fixed(report.cpu_seconds, 2) << " s, efficiency " << fixed(100 * report.cpu_efficiency, 0)
            << "% (CPU time / (wall x " << report.settings.threads << " threads)); peak RSS "
            << fixed(mib(report.peak_rss_bytes), 0) << " MiB; " << report.peak_threads << " threads in the process\n";
  for (const framework::ModuleReport& m : report.modules) {
    if (m.failed_checks > 0) std::cout << "check failed: " << m.first_failure << "\n";
  }
  if (report.interrupted) std::cout << "interrupted: the summary covers the events processed before Ctrl-C\n";
  if (!report.error.empty()) std::cout << "error: " << report.error << "\n";
}

struct RunCommandOptions {
  std::string workflow;
  std::string models;
  std::string inventory;
  std::string policy;
  std::string batching;
  std::optional<std::int64_t> events;
  std::optional<int> streams, threads;
  std::optional<std::uint64_t> seed;
  LoadOptions open{.warmup_runs = 1, .warmup_batch_sizes = {1, 16}, .measure_memory = true};
  bool json = false;
  bool quiet = false;
};

// The workflow to run, with the command line's overrides; `source` says where it came from.
framework::JobWorkflow job_workflow(const RunCommandOptions& options, std::string& source) {
  const bool embedded = options.workflow.empty();
  const framework::WorkflowConfig config =
      embedded ? framework::parse_workflow(std::string(framework::default_workflow_yaml()), "embedded demo workflow")
               : framework::read_workflow(options.workflow);
  std::filesystem::path models = options.models;
  if (models.empty()) {
    models = embedded ? default_models_directory() : std::filesystem::path(options.workflow).parent_path();
  }
  if (embedded && !std::filesystem::exists(models / "README.txt")) {
    throw FileNotFoundError("the demo models are not in '" + models.string() +
                            "': build the target hepinfer_demo_models, or pass --models DIR");
  }
  source = embedded ? "embedded demo workflow (models: " + models.string() + ")" : options.workflow;
  framework::JobWorkflow workflow = framework::job_workflow_from(config, models);
  if (options.events) workflow.job.events = *options.events;
  if (options.streams) workflow.job.streams = *options.streams;
  if (options.threads) workflow.job.threads = *options.threads;
  if (options.seed) workflow.job.seed = *options.seed;
  if (!options.policy.empty()) workflow.plan.policy = *scheduler::parse_policy(options.policy);  // checked by the option
  if (options.batching == "off") framework::disable_batching(workflow);
  return workflow;
}

framework::JobOptions job_options(const RunCommandOptions& options, const ChosenInventory& inventory,
                                  ProgressPrinter& progress) {
  framework::JobOptions job{
      .inventory = inventory.inventory,
      .hooks = backend_scheduler_hooks(),
      .load =
          [defaults = options.open](const framework::ModuleSetup& setup, const scheduler::Assignment& assignment) {
            LoadOptions open = defaults;
            open.placement = assignment;
            return std::shared_ptr<const Model>(open_model(setup.model.string(), open));
          },
      .stop = &stop_requested,
  };
  if (!options.quiet) job.progress = [&progress](const framework::JobProgress& p) { progress(p); };
  return job;
}

void print_header(const framework::JobWorkflow& workflow, const std::string& source, const ChosenInventory& inventory,
                  ThreadingMode threading) {
  const framework::JobSettings settings = framework::with_defaults(workflow.job);
  std::cout << "workflow: " << source << "\njob: " << settings.events << " events, " << settings.streams
            << " streams, " << settings.threads << " threads, seed " << settings.seed << ", TF threading "
            << threading_mode_name(threading) << "\ninventory: " << inventory.source << "\n" << std::flush;
}

// The command's exit: 1 with one line for an error or a failed check, 130 when interrupted.
void throw_unless_succeeded(const framework::JobReport& report) {
  if (!report.error.empty()) throw BackendError("the job stopped: " + report.error);
  for (const framework::ModuleReport& module : report.modules) {
    if (module.failed_checks > 0) {
      throw BackendError(std::to_string(report.failed_checks()) + " output check(s) failed; first: " +
                         module.first_failure);
    }
  }
  if (report.interrupted) throw CLI::RuntimeError(130);
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto options = std::make_shared<RunCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "run", "Run a framework-like job: modules claim devices, one plan, S streams on T threads, a summary");
  command->add_option("workflow", options->workflow,
                      "Workflow YAML with job: and module settings: (default: the embedded demo job)");
  command->add_option("--models", options->models,
                      "Directory that relative model paths start from (default: the workflow file's directory; "
                      "for the demo job $HEPINFER_DEMO_MODELS, else the demo models next to this program: "
                      "share/hepinfer/demo_models when installed, demo_models in its build tree)");
  command->add_option("--events", options->events, "Events to process")->check(CLI::NonNegativeNumber);
  command->add_option("--streams", options->streams, "Concurrent event streams")->check(CLI::PositiveNumber);
  command->add_option("--threads", options->threads, "Threads in the job's TBB arena")->check(CLI::PositiveNumber);
  command->add_option("--seed", options->seed, "Seed of the synthetic events");
  command->add_option("--policy", options->policy, "Override the workflow's GPU policy")
      ->check(CLI::IsMember({"pack", "spread"}));
  command->add_option("--inventory", options->inventory,
                      "Simulated GPU inventory YAML (default: the GPUs found on this machine)");
  command->add_option("--batching", options->batching,
                      "on: as the workflow says; off: no dynamic batching, every module synchronous")
      ->check(CLI::IsMember({"on", "off"}));
  add_threading_option(*command, options->open.threading);
  add_op_policy_options(*command, options->open);
  command->add_flag("--json", options->json, "Print the summary as JSON (progress still goes to stderr)");
  command->add_flag("--quiet", options->quiet, "No progress output");
  command->callback([options] {
    std::string source;
    framework::JobWorkflow workflow = job_workflow(*options, source);
    ChosenInventory inventory = choose_inventory(options->inventory);
    std::vector<scheduler::Claim> claims;
    for (const auto& module : workflow.modules) claims.push_back(module.claim);
    add_server_offers(workflow.servers, claims, inventory);
    ProgressPrinter progress;
    const framework::JobOptions job = job_options(*options, inventory, progress);
    if (!options->json) print_header(workflow, source, inventory, options->open.threading);
    framework::JobReport report;
    {
      const InterruptGuard interrupts;
      report = framework::run_job(workflow, job);
    }
    progress.finish();
    if (options->json) {
      std::cout << report_json(report, source, inventory.source).dump(2) << "\n";
    } else {
      std::cout << "policy: " << scheduler::policy_name(workflow.plan.policy) << ", headroom "
                << workflow.plan.headroom_mib << " MiB per GPU\n\n";
      print_plan(std::cout, report.plan);
      print_summary(report);
    }
    throw_unless_succeeded(report);
  });
}

}  // namespace hepinfer::cli
