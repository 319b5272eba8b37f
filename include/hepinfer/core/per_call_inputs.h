#pragma once
// Inputs that do not follow the batch.
//
// Most inputs hold one row per event, and whatever pads, splits or merges batches does so along
// their first dimension. A signature may also take inputs that every run feeds whole: a scalar (a
// threshold, a temperature) or a tensor whose first dimension the signature fixes while another
// input's batch is open (a table [3, 4] beside x [-1, 4]). Such a per-call input goes whole to
// every part of a split run, is never padded, and requests merge into one run only when theirs
// are equal.

#include <vector>

#include "hepinfer/core/model.h"

namespace hepinfer {

// True if `input`, one of `signature`'s inputs, is fed whole with every run: it is a scalar, or its
// first dimension is known while another input's is not (or its rank is unknown), or it is a
// component of a ragged or sparse tensor (TensorInfo::composite_component).
bool is_per_call_input(const TensorInfo& input, const SignatureInfo& signature);

// is_per_call_input for each of `signature`'s inputs, in its order.
std::vector<bool> per_call_flags(const SignatureInfo& signature);

// For each of a run's `inputs`: whether it is per-call, as `signature` (nullptr: none known) says of
// the input it names (by key or graph tensor name). A scalar tensor is per-call whatever the
// signature says: it has no rows to split (the backend judges its shape).
std::vector<bool> per_call_inputs(const std::vector<NamedTensor>& inputs, const SignatureInfo* signature);

// The signature a run with `options` uses (its own or the model's default); nullptr if the model
// has none of that name.
const SignatureInfo* find_run_signature(const ModelInfo& info, const RunOptions& options);

}  // namespace hepinfer
