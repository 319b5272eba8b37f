#pragma once
// An artifact's weights fed as parameters (artifact.h's ArtifactWeights) on a PJRT client's
// device: copied there once at load, then passed to every run of every program of the model, as
// the parameters after the inputs. Read-only, so concurrent runs share them.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "artifact.h"
#include "hepinfer/xla/pjrt_plugin.h"
#include "pjrt_calls.h"

namespace hepinfer::xla::detail {

class ResidentWeights {
 public:
  // Maps `weights.file` and copies each tensor to the client's first device (its default
  // memory); `what` names the artifact in errors. Throws FileNotFoundError, InvalidModelError for
  // a tensor beyond the file's end, and the plugin's errors (ResourceExhaustedError where the
  // device's memory, or a GPU module's cap, cannot hold them).
  ResidentWeights(std::shared_ptr<const PjrtClient> client, const ArtifactWeights& weights, const std::string& what);
  ResidentWeights(const ResidentWeights&) = delete;
  ResidentWeights& operator=(const ResidentWeights&) = delete;

  // In the programs' parameter order, after the inputs.
  const std::vector<PJRT_Buffer*>& buffers() const { return handles_; }
  std::int64_t bytes() const { return bytes_; }

 private:
  std::shared_ptr<const PjrtClient> client_;  // outlives the buffers
  std::vector<DeviceBuffer> buffers_;
  std::vector<PJRT_Buffer*> handles_;
  std::int64_t bytes_ = 0;
};

}  // namespace hepinfer::xla::detail
