#pragma once
// A loaded TensorFlow graph in its session, as a hepinfer::Model: resolves names to graph tensors,
// validates inputs against the signature, caches one TF callable per combination of names, and
// runs it on the pools of the caller's threading mode.

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "hepinfer/core/model.h"
#include "tensorflow/core/public/session.h"

namespace hepinfer::tf {

struct SessionCloser {
  void operator()(tensorflow::Session* session) const {
    if (session == nullptr) return;
    session->Close().IgnoreError();  // nothing useful to do with a failure while destroying
    delete session;
  }
};
using SessionPtr = std::unique_ptr<tensorflow::Session, SessionCloser>;

// A graph tensor a caller's name resolved to, with its metadata when the model has any.
struct ResolvedTensor {
  std::string tensor_name;
  const TensorInfo* info = nullptr;
};

// Everything about a (signature, input names, output names) combination that does not change
// between runs: TF's pre-pruned callable and the metadata to validate inputs against.
struct PreparedCall {
  tensorflow::Session::CallableHandle handle = 0;
  std::vector<const TensorInfo*> input_infos;  // nullptr where a raw tensor has no metadata
  std::vector<const TensorInfo*> output_infos;
  std::vector<std::string> output_labels;
};

class TfModel final : public Model {
 public:
  // `unfetchable_nodes`: nodes the op check left out (check_ops), which runs must not fetch.
  TfModel(ModelInfo info, SessionPtr session, std::unordered_set<std::string> node_names,
          std::unordered_set<std::string> unfetchable_nodes)
      : info_(std::move(info)),
        session_(std::move(session)),
        node_names_(std::move(node_names)),
        unfetchable_nodes_(std::move(unfetchable_nodes)) {}

  const ModelInfo& info() const override { return info_; }
  void set_timing(const LoadTiming& timing) { info_.timing = timing; }
  void set_memory(const MemoryModel& memory) { info_.memory = memory; }

  // An upper bound of the memory one run on `inputs` needs: the sum of every node's peak
  // allocation in TF's step statistics, as if nothing were freed during the run. Counted on
  // every device of the run (the CPU here; the GPU's allocator on a GPU).
  std::int64_t traced_need(const std::vector<NamedTensor>& inputs) const;

  std::vector<Tensor> run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& output_names,
                          const RunOptions& options) const override;

 private:
  std::vector<Tensor> execute(const PreparedCall& call, const std::vector<NamedTensor>& inputs,
                              ThreadingMode mode) const;
  // Throws BackendError if `output` has a shape `expected` does not allow.
  void check_output_shape(const TensorInfo& expected, const Tensor& output) const;

  // An empty batch never reaches TF's kernels (see hepinfer/core/empty_batch.h): oneDNN's
  // convolution answers it wrongly and recurrent layers cannot run it at all.
  std::vector<Tensor> run_empty_batch(const PreparedCall& call, const std::vector<NamedTensor>& inputs,
                                      const SignatureInfo* signature, ThreadingMode mode) const;

  // Callables are made once per combination of names and cached; later runs only look them up.
  const PreparedCall& prepared_call(const std::vector<NamedTensor>& inputs,
                                    const std::vector<std::string>& output_names,
                                    const std::string& signature_key) const;

  std::unique_ptr<PreparedCall> prepare(const std::vector<NamedTensor>& inputs,
                                        const std::vector<std::string>& output_names,
                                        const std::string& signature_key, bool traced) const;

  ResolvedTensor resolve(const SignatureInfo& signature, const std::string& name, bool is_input) const;

  void check_all_inputs_fed(const SignatureInfo& signature, const tensorflow::CallableOptions& callable) const;

  ModelInfo info_;
  SessionPtr session_;
  std::unordered_set<std::string> node_names_;
  std::unordered_set<std::string> unfetchable_nodes_;
  mutable std::shared_mutex calls_mutex_;
  mutable std::unordered_map<std::string, std::unique_ptr<PreparedCall>> calls_;
};

}  // namespace hepinfer::tf
