#include "hepinfer/tensorflow/tf_runtime.h"

#include "absl/log/globals.h"

namespace hepinfer::tf {

void set_log_level(LogLevel level) {
  const auto severity = [level] {
    switch (level) {
      case LogLevel::kInfo: return absl::LogSeverityAtLeast::kInfo;
      case LogLevel::kWarning: return absl::LogSeverityAtLeast::kWarning;
      case LogLevel::kError: return absl::LogSeverityAtLeast::kError;
      case LogLevel::kFatal: return absl::LogSeverityAtLeast::kFatal;
    }
    return absl::LogSeverityAtLeast::kWarning;
  }();
  absl::SetMinLogLevel(severity);
  absl::SetStderrThreshold(severity);
}

}  // namespace hepinfer::tf
