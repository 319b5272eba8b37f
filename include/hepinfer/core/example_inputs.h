#pragma once
// Made-up inputs for a model's default signature: what warm-up runs, memory probes and
// benchmarks feed when no real data is at hand.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "hepinfer/core/load_options.h"
#include "hepinfer/core/model.h"

namespace hepinfer {

// One tensor per input of `info`'s default signature, with `rows` rows; unknown non-batch
// dimensions are taken as 1. All zeros, or with a `seed`: floating-point inputs uniform in [0, 1)
// and integer and boolean inputs zero (an index every embedding accepts). `purpose` ("warm up",
// "bench") names the caller in errors: InvalidArgumentError for negative rows or an input of
// unknown rank.
std::vector<NamedTensor> example_inputs(const ModelInfo& info, std::int64_t rows, std::string_view purpose,
                                        std::optional<std::uint32_t> seed = std::nullopt);

// The warm-up `options` ask for (warmup_runs runs at each of warmup_batch_sizes, on zeros),
// counted and timed into `timing`. Backends call it at the end of loading.
void warm_up(const Model& model, const LoadOptions& options, LoadTiming& timing);

}  // namespace hepinfer
