#pragma once
// Answering a run on an empty batch (every batched input has 0 rows) without running the model.
//
// Kernels mishandle empty batches: TensorFlow's oneDNN convolution (on by default on CPUs with
// AVX-512) returns its input unchanged for 0 rows, and Keras' LSTM cannot run on 0 rows at all.
// An empty batch has an obvious answer — every output that follows the batch has 0 rows — so
// backends give it without letting the batch reach a kernel: from the outputs' static shapes
// when those are known, otherwise from a small probe run cut to 0 rows.

#include <cstdint>
#include <optional>
#include <vector>

#include "hepinfer/core/model.h"

namespace hepinfer {

// Rows of the probe run that stands in for an empty batch. Two, not one, so that an output whose
// first dimension is a fixed 1 is not mistaken for one that follows the batch.
inline constexpr std::int64_t kEmptyBatchProbeRows = 2;

// True if at least one input follows the batch and every such input has 0 rows. Inputs that do not
// follow it (scalars, and per-call inputs as `signature` says: core/per_call_inputs.h; nullptr:
// scalars only) do not count.
bool is_empty_batch(const std::vector<NamedTensor>& inputs, const SignatureInfo* signature);

// The empty outputs, if every output's metadata (nullptr: none) has a known rank >= 1, an unknown
// first dimension and known other dimensions; std::nullopt otherwise.
std::optional<std::vector<Tensor>> empty_outputs_from_metadata(const std::vector<const TensorInfo*>& outputs);

// `inputs` with every input that follows the batch (as for is_empty_batch) replaced by zeros of
// kEmptyBatchProbeRows rows.
std::vector<NamedTensor> empty_batch_probe_inputs(const std::vector<NamedTensor>& inputs, const SignatureInfo* signature);

// The probe run's outputs cut to 0 rows, if every one of them follows the batch (rank >= 1,
// kEmptyBatchProbeRows rows, and no metadata fixing its first dimension); std::nullopt otherwise,
// and the backend has to run the empty batch itself.
std::optional<std::vector<Tensor>> empty_outputs_from_probe(const std::vector<Tensor>& probe_outputs,
                                                            const std::vector<const TensorInfo*>& outputs);

}  // namespace hepinfer
