#include "op_policy.h"

#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "hepinfer/core/error.h"
#include "model_metadata.h"
#include "tensorflow/core/framework/function.pb.h"
#include "tensorflow/core/framework/op.h"

namespace hepinfer::tf::detail {
namespace {

// Ops that compute on tensors and nothing else: what inference graphs exported from Keras, TF2
// functions and TF1 graphs use. Anything missing can be added per model (LoadOptions::allowed_ops).
const std::unordered_set<std::string>& inference_ops() {
  static const std::unordered_set<std::string> ops = {
      // graph plumbing, function calls, control flow
      "Placeholder", "PlaceholderWithDefault", "Const", "Identity", "IdentityN", "NoOp", "StopGradient",
      "PreventGradient", "Snapshot", "PartitionedCall", "StatefulPartitionedCall", "If", "StatelessIf", "While",
      "StatelessWhile", "Case", "StatelessCase", "Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond",
      "ControlTrigger", "Assert", "CheckNumerics", "EnsureShape", "OptionalFromValue", "OptionalNone",
      "For", "DeviceIndex", "GuaranteeConst", "CheckNumericsV2", "PlaceholderV2",
      // a serialized StableHLO module (Keras 3 exports from JAX, jax2tf): XLA computes it; the TF
      // functions it may call back are its function_list attribute, checked like any other
      "XlaCallModule",
      // variables (reading), resources; TF1's reference variables and the control flow around them
      "VarHandleOp", "ReadVariableOp", "VarIsInitializedOp", "VariableShape", "DisableCopyOnRead",
      "VariableV2", "Variable", "IsVariableInitialized", "RefIdentity", "RefSwitch", "RefMerge", "RefEnter",
      "RefExit", "RefNextIteration", "RefSelect",
      "AssignVariableOp", "Assign",  // variable initialisers: they write variables, not files
      "AssignAddVariableOp", "AssignSubVariableOp", "AssignAdd", "AssignSub",  // counters, moving averages
      "ResourceGather", "ResourceGatherNd",
      // arithmetic
      "Add", "AddV2", "AddN", "Sub", "Mul", "MulNoNan", "Div", "DivNoNan", "RealDiv", "TruncateDiv", "FloorDiv",
      "FloorMod", "TruncateMod", "Mod", "Neg", "Abs", "Sign", "Reciprocal", "Inv", "Square", "Sqrt", "Rsqrt",
      "Pow", "Exp", "Expm1", "Log", "Log1p", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Atan2", "Sinh", "Cosh",
      "Tanh", "Asinh", "Acosh", "Atanh", "Floor", "Ceil", "Round", "Rint", "Maximum", "Minimum", "SquaredDifference",
      "Erf", "Erfc", "Lgamma", "Digamma", "IsNan", "IsInf", "IsFinite", "ClipByValue", "Xlogy", "Xdivy",
      "Cumsum", "Cumprod", "BiasAdd", "BiasAddV1", "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3",
      "Einsum", "Cross", "Sum", "Prod", "Mean", "Max", "Min", "All", "Any", "ArgMax", "ArgMin", "EuclideanNorm",
      "SegmentSum", "SegmentMean", "SegmentMax", "SegmentMin", "UnsortedSegmentSum", "UnsortedSegmentMax",
      "UnsortedSegmentMin", "UnsortedSegmentProd", "Bucketize", "Cast", "Bitcast", "BitwiseAnd", "BitwiseOr",
      "BitwiseXor", "Invert", "LeftShift", "RightShift",
      // comparison and logic
      "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd", "LogicalOr", "LogicalNot",
      "Select", "SelectV2", "Where", "ApproximateEqual",
      // neural-network layers
      "Relu", "Relu6", "LeakyRelu", "Elu", "Selu", "Softplus", "Softsign", "Sigmoid", "Softmax", "LogSoftmax",
      "Conv2D", "Conv3D", "DepthwiseConv2dNative", "Conv2DBackpropInput", "Conv3DBackpropInputV2",
      "MaxPool", "MaxPoolV2", "MaxPool3D", "AvgPool", "AvgPool3D", "FusedBatchNorm", "FusedBatchNormV2",
      "FusedBatchNormV3", "LRN", "L2Loss", "TopKV2", "InTopKV2", "BlockLSTM", "BlockLSTMV2", "LSTMBlockCell",
      "GRUBlockCell", "CudnnRNN", "CudnnRNNV2", "CudnnRNNV3", "_FusedMatMul", "_FusedConv2D", "_MklMatMul",
      // shapes and data movement
      "Shape", "ShapeN", "Size", "Rank", "Reshape", "Squeeze", "ExpandDims", "Transpose", "ConjugateTranspose",
      "Pack", "Unpack", "Concat", "ConcatV2", "ConcatOffset", "Split", "SplitV", "Slice", "StridedSlice",
      "TensorScatterUpdate", "TensorScatterAdd", "ScatterNd", "Gather", "GatherV2", "GatherNd", "Tile", "Pad",
      "PadV2", "MirrorPad", "Fill", "ZerosLike", "OnesLike", "Range", "LinSpace", "BroadcastTo", "BroadcastArgs",
      "BroadcastGradientArgs", "Reverse", "ReverseV2", "ReverseSequence", "OneHot", "Unique", "UniqueV2",
      "DiagPart", "MatrixDiag", "MatrixDiagV3", "MatrixDiagPart", "MatrixDiagPartV3", "MatrixBandPart",
      "MatrixSetDiagV3", "SpaceToDepth", "DepthToSpace", "SpaceToBatchND", "BatchToSpaceND", "ResizeBilinear",
      "ResizeNearestNeighbor", "DynamicStitch", "ParallelDynamicStitch", "DynamicPartition", "InvertPermutation",
      "SparseToDense", "Cholesky", "MatrixInverse", "MatrixDeterminant", "Qr", "SelfAdjointEigV2", "Svd",
      "TensorListFromTensor", "TensorListGetItem", "TensorListReserve", "TensorListSetItem", "TensorListStack",
      "TensorListLength", "TensorListElementShape", "TensorListPushBack", "TensorListPopBack", "TensorListConcatV2",
      "TensorArrayV3", "TensorArrayReadV3", "TensorArrayWriteV3", "TensorArrayGatherV3", "TensorArrayScatterV3",
      "TensorArraySizeV3", "TensorArrayCloseV3",
      "EmptyTensorList", "TensorListGather", "TensorListScatter", "TensorListScatterV2",
      "TensorListScatterIntoExistingList", "TensorListSplit", "TensorListConcat", "TensorListConcatLists",
      "TensorListResize", "TensorListPushBackBatch", "TensorArrayConcatV3", "TensorArraySplitV3",
      "TensorArrayV2", "TensorArrayReadV2", "TensorArrayWriteV2", "TensorArrayGatherV2", "TensorArrayScatterV2",
      "TensorArraySizeV2", "TensorArrayCloseV2", "TensorArrayConcatV2", "TensorArraySplitV2",
      "Roll", "DataFormatVecPermute", "DataFormatDimMap", "Diag", "ParallelConcat", "InplaceAdd", "InplaceSub",
      "InplaceUpdate", "TensorScatterSub", "TensorScatterMax", "TensorScatterMin", "TensorStridedSliceUpdate",
      "ScatterNdNonAliasingAdd", "UnravelIndex", "ListDiff", "UniqueWithCounts", "UniqueWithCountsV2",
      "BatchToSpace", "SpaceToBatch", "MatrixDiagV2", "MatrixDiagPartV2", "MatrixSetDiag", "MatrixSetDiagV2",
      "BatchMatrixBandPart", "BatchMatrixDiag", "BatchMatrixDiagPart", "BatchMatrixSetDiag",
      // sparse and ragged tensors inside a graph (embedding_lookup_sparse, tf.ragged, tf.sparse)
      "SparseSegmentSum", "SparseSegmentMean", "SparseSegmentSqrtN", "SparseSegmentSumWithNumSegments",
      "SparseSegmentMeanWithNumSegments", "SparseSegmentSqrtNWithNumSegments", "SparseTensorDenseMatMul",
      "SparseTensorDenseAdd", "SparseReshape", "SparseReorder", "SparseSlice", "SparseConcat",
      "SparseFillEmptyRows", "SparseAdd", "SparseReduceSum", "SparseReduceMax", "SparseSoftmax",
      "RaggedTensorToTensor", "RaggedTensorFromVariant", "RaggedTensorToVariant", "RaggedTensorToSparse",
      "RaggedGather", "RaggedRange",
      // counting, sorting and searching (tf.math.bincount, Keras' CategoryEncoding, tf.searchsorted, tf.sort)
      "Bincount", "DenseBincount", "HistogramFixedWidth", "LowerBound", "UpperBound", "NthElement", "TopK",
      "InTopK", "ApproxTopK", "SegmentProd", "SegmentSumV2", "SegmentMaxV2", "SegmentMinV2", "SegmentProdV2",
      "CumulativeLogsumexp", "AccumulateNV2",
      // special functions
      "Erfinv", "Ndtri", "Betainc", "Igamma", "Igammac", "Polygamma", "Zeta", "Dawsn", "Expint", "FresnelCos",
      "FresnelSin", "Spence", "BesselI0", "BesselI0e", "BesselI1", "BesselI1e", "BesselJ0", "BesselJ1", "BesselK0",
      "BesselK0e", "BesselK1", "BesselK1e", "BesselY0", "BesselY1", "Xlog1py", "NextAfter", "PopulationCount",
      // complex numbers and Fourier transforms
      "Complex", "ComplexAbs", "Real", "Imag", "Angle", "Conj", "FFT", "FFT2D", "FFT3D", "FFTND", "IFFT", "IFFT2D",
      "IFFT3D", "IFFTND", "RFFT", "RFFT2D", "RFFT3D", "RFFTND", "IRFFT", "IRFFT2D", "IRFFT3D", "IRFFTND",
      // linear algebra
      "MatrixSolve", "MatrixSolveLs", "MatrixTriangularSolve", "BandedTriangularSolve", "TridiagonalSolve",
      "TridiagonalMatMul", "LogMatrixDeterminant", "Lu", "Eig", "SelfAdjointEig", "MatrixExponential",
      "MatrixLogarithm", "MatrixSquareRoot", "BatchCholesky", "BatchMatrixDeterminant", "BatchMatrixInverse",
      "BatchMatrixSolve", "BatchMatrixSolveLs", "BatchMatrixTriangularSolve", "BatchSelfAdjointEigV2", "BatchSvd",
      // more layers: pooling, convolutions, normalisation, image resizing, boxes, quantisation-aware training
      "Conv", "Dilation2D", "MaxPoolWithArgmax", "FractionalMaxPool", "FractionalAvgPool", "FusedPadConv2D",
      "FusedResizeAndPadConv2D", "ExtractImagePatches", "ExtractVolumePatches", "BatchNormWithGlobalNormalization",
      "SoftmaxCrossEntropyWithLogits", "ResizeArea", "ResizeBicubic", "ScaleAndTranslate", "CropAndResize",
      "ImageProjectiveTransformV2", "ImageProjectiveTransformV3", "AdjustContrastv2", "AdjustHue",
      "AdjustSaturation", "RGBToHSV", "HSVToRGB", "NonMaxSuppression", "NonMaxSuppressionV2",
      "NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5", "NonMaxSuppressionWithOverlaps",
      "CombinedNonMaxSuppression", "FakeQuantWithMinMaxArgs", "FakeQuantWithMinMaxVars",
      "FakeQuantWithMinMaxVarsPerChannel", "QuantizeAndDequantize", "QuantizeAndDequantizeV2",
      "QuantizeAndDequantizeV3", "QuantizeAndDequantizeV4",
      // randomness that reads and writes nothing outside the graph
      "RandomUniform", "RandomStandardNormal", "TruncatedNormal", "StatelessRandomUniformV2",
      "StatelessRandomNormalV2", "StatelessRandomGetKeyCounter", "StatelessRandomGetAlg",
      "StatelessRandomGetKeyCounterAlg", "StatelessRandomUniform", "StatelessRandomNormal",
      "StatelessTruncatedNormal", "StatelessTruncatedNormalV2", "StatelessRandomUniformInt",
      "StatelessRandomUniformIntV2", "StatelessRandomUniformFullInt", "StatelessRandomUniformFullIntV2",
      "StatelessMultinomial", "StatelessRandomBinomial", "StatelessRandomGammaV2", "StatelessRandomGammaV3",
      "StatelessRandomPoisson", "StatelessParameterizedTruncatedNormal", "RandomUniformInt", "Multinomial",
      "RandomShuffle", "RandomGamma", "RandomPoissonV2",
      // lookup tables in memory (initialised from tensors; a table read from a file is allowed only
      // where the file is one of the model's assets, see asset_policy.h)
      "HashTableV2", "LookupTableFindV2", "LookupTableSizeV2", "LookupTableImportV2", "InitializeTableV2",
      // strings, as the saver's file-name plumbing uses them (pure)
      "StringJoin", "StaticRegexFullMatch", "RegexFullMatch", "StringFormat", "AsString", "StringLength",
      "StringToHashBucketFast", "StringToHashBucketStrong",  // Keras' Hashing layer, on integers too
  };
  return ops;
}

// What restoring (and saving) variables needs: allowed only where the saver reaches.
const std::unordered_set<std::string>& checkpoint_ops() {
  static const std::unordered_set<std::string> ops = {
      "RestoreV2", "Restore", "RestoreSlice", "SaveV2", "Save", "SaveSlices", "MergeV2Checkpoints",
      "ShardedFilename", "ShardedFilespec",
  };
  return ops;
}

class OpChecker {
 public:
  OpChecker(const tensorflow::GraphDef& graph, const OpPolicy& policy, const std::string& path)
      : graph_(graph), path_(path) {
    for (const auto& function : graph.library().function()) {
      functions_[function.signature().name()] = &function;
      if (const std::string key = implementation_key(function); !key.empty()) {
        implementations_[key].push_back(function.signature().name());
      }
    }
    for (const auto& gradient : graph.library().gradient()) {
      gradients_[gradient.function_name()] = gradient.gradient_func();
    }
    allowed_.insert(policy.extra_allowed.begin(), policy.extra_allowed.end());
    vouched_ = policy.vouched_nodes;
  }

  std::unordered_set<std::string> check(const tensorflow::SaverDef* saver,
                                        const std::optional<std::vector<std::string>>& roots) {
    std::unordered_set<std::string> saver_nodes;
    if (saver != nullptr) saver_nodes = reached_from({saver->restore_op_name(), saver->save_tensor_name(),
                                                      saver->filename_tensor_name()});
    // What runs can reach: all of a graph without signatures (runs fetch by tensor name) but the
    // saver's, or what a SavedModel's signatures and init op reach. Checked first and strictly, so
    // that a node or function both these and the saver reach is held to the stricter rule.
    std::unordered_set<std::string> runnable;
    if (roots.has_value()) {
      runnable = reached_from(*roots);
    } else {
      for (const auto& node : graph_.node()) {
        if (!saver_nodes.contains(node.name())) runnable.insert(node.name());
      }
    }
    for (const auto& node : graph_.node()) {
      if (runnable.contains(node.name())) check_node(node, "", false);
    }
    for (const auto& node : graph_.node()) {
      if (saver_nodes.contains(node.name()) && !runnable.contains(node.name())) check_node(node, "", true);
    }
    // Nodes and functions nothing reaches are left alone: a session cannot run them. TF1 SavedModels
    // exported from a training session carry the optimizer and the summaries that way, Keras 2 ones
    // their layers' training passes (gradient ops, cuDNN's backward RNN) in the function library.
    std::unordered_set<std::string> unfetchable;
    for (const auto& node : graph_.node()) {
      if (!runnable.contains(node.name())) unfetchable.insert(node.name());
    }
    return unfetchable;
  }

 private:
  // Grappler's implementation selector may replace a call to a function by another one of the
  // library that implements the same API ("api_implements", e.g. Keras 2's cuDNN and plain LSTM)
  // in the same role: an inference function, or a training pass's forward or backward half, which
  // TF tells apart by their backward_function_name / forward_function_name attributes. Functions
  // sharing this key can run wherever one of them is called.
  static std::string implementation_key(const tensorflow::FunctionDef& function) {
    const auto implements = function.attr().find("api_implements");
    if (implements == function.attr().end() || implements->second.s().empty()) return "";
    std::string role = "inference";
    if (function.attr().contains("forward_function_name")) role = "backward";
    if (function.attr().contains("backward_function_name")) role = "forward";
    return implements->second.s() + "/" + role;
  }

  std::unordered_set<std::string> reached_from(const std::vector<std::string>& roots) const {
    std::unordered_map<std::string, const tensorflow::NodeDef*> nodes;
    for (const auto& node : graph_.node()) nodes[node.name()] = &node;
    std::unordered_set<std::string> reached;
    std::deque<std::string> pending;
    for (const std::string& root : roots) {
      if (!root.empty()) pending.push_back(node_name_of(root));
    }
    while (!pending.empty()) {
      const std::string name = pending.front();
      pending.pop_front();
      const auto found = nodes.find(name);
      if (found == nodes.end() || !reached.insert(name).second) continue;
      for (const std::string& input : found->second->input()) pending.push_back(node_name_of(input));
    }
    return reached;
  }

  void check_node(const tensorflow::NodeDef& node, const std::string& function, bool checkpoint_allowed) {
    if (functions_.contains(node.op())) {
      check_function(node.op(), checkpoint_allowed);
    } else {
      check_op(node.op(), node.name(), function, checkpoint_allowed);
    }
    for (const auto& [attr_name, value] : node.attr()) {
      if (value.has_func()) check_function(value.func().name(), checkpoint_allowed);
      for (const auto& called : value.list().func()) check_function(called.name(), checkpoint_allowed);
    }
  }

  void check_function(const std::string& name, bool checkpoint_allowed) {
    const auto found = functions_.find(name);
    if (found == functions_.end()) return;  // not a function of this library: TF decides
    // A function is checked once strictly; a lenient check is redundant after a strict one.
    if (!(checkpoint_allowed ? lenient_done_ : strict_done_).insert(name).second) return;
    if (checkpoint_allowed && strict_done_.contains(name)) return;
    for (const auto& node : found->second->node_def()) check_node(node, name, checkpoint_allowed);
    if (const std::string key = implementation_key(*found->second); !key.empty()) {
      for (const std::string& alternative : implementations_.at(key)) check_function(alternative, checkpoint_allowed);
    }
    if (const auto gradient = gradients_.find(name); gradient != gradients_.end()) {
      check_function(gradient->second, checkpoint_allowed);  // what SymbolicGradient would run
    }
  }

  void check_op(const std::string& op, const std::string& node, const std::string& function,
                bool checkpoint_allowed) const {
    if (inference_ops().contains(op) || allowed_.contains(op) || vouched_.contains(function + "/" + node)) return;
    if (checkpoint_allowed && checkpoint_ops().contains(op)) return;
    const tensorflow::OpDef* definition = nullptr;
    if (!tensorflow::OpRegistry::Global()->LookUpOpDef(op, &definition).ok()) return;  // unknown: TF rejects it
    const std::string where = function.empty() ? "node '" + node + "'" : "node '" + node + "' of function '" + function + "'";
    const std::string why = checkpoint_ops().contains(op)
                                ? "a checkpoint op outside the saver's restore path (it reads or writes files)"
                                : "not on hepinfer's inference allowlist (ops like it can read or write files or "
                                  "run code outside the graph)";
    throw PermissionDeniedError("'" + path_ + "': refusing op '" + op + "' (" + where + "): " + why +
                                "; if you trust this model, allow it with LoadOptions::allowed_ops or "
                                "allow_unsafe_ops (CLI: --allow-op " + op + " or --allow-unsafe-ops)");
  }

  const tensorflow::GraphDef& graph_;
  std::string path_;
  std::unordered_map<std::string, const tensorflow::FunctionDef*> functions_;
  std::unordered_map<std::string, std::vector<std::string>> implementations_;  // implementation_key -> functions
  std::unordered_map<std::string, std::string> gradients_;                     // function -> its gradient function
  std::unordered_set<std::string> allowed_;
  std::unordered_set<std::string> vouched_;
  std::unordered_set<std::string> strict_done_, lenient_done_;
};

}  // namespace

std::unordered_set<std::string> check_ops(const tensorflow::GraphDef& graph, const tensorflow::SaverDef* saver,
                                          const std::optional<std::vector<std::string>>& roots,
                                          const OpPolicy& policy, const std::string& model_path) {
  if (policy.allow_all) return {};
  return OpChecker(graph, policy, model_path).check(saver, roots);
}

}  // namespace hepinfer::tf::detail
