#include "hepinfer/core/model_path_advice.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <vector>

namespace hepinfer {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kExportAdvice =
    "export it as a SavedModel (Keras 3: model.export(DIR, format=\"tf_saved_model\"); "
    "Keras 2: tf.saved_model.save(model, DIR)) and give hepinfer DIR";

// The first bytes of a file and, for zip archives whose names are listed at the end, its last bytes.
struct FileSample {
  std::string head;
  std::string tail;
};

FileSample sample(const fs::path& path) {
  constexpr std::size_t kHead = 4096, kTail = 65536;
  FileSample result;
  std::ifstream file(path, std::ios::binary);
  if (!file) return result;
  result.head.resize(kHead);
  file.read(result.head.data(), static_cast<std::streamsize>(kHead));
  result.head.resize(static_cast<std::size_t>(file.gcount()));
  file.clear();
  file.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(std::max<std::streamoff>(file.tellg(), 0));
  if (size > kHead) {
    const std::size_t length = std::min(size, kTail);
    file.seekg(static_cast<std::streamoff>(size - length));
    result.tail.resize(length);
    file.read(result.tail.data(), static_cast<std::streamsize>(length));
    result.tail.resize(static_cast<std::size_t>(file.gcount()));
  }
  return result;
}

bool starts_with(std::string_view bytes, std::string_view prefix) { return bytes.substr(0, prefix.size()) == prefix; }

bool contains(const FileSample& sample, std::string_view text) {
  return sample.head.find(text) != std::string::npos || sample.tail.find(text) != std::string::npos;
}

// The first byte of a GraphDef as TensorFlow writes it is the tag of a length-delimited field
// (node 1, library 2, version 3, versions 4, debug_info 5). Formats recognised by bytes at an offset
// are only recognised where the file cannot start like that.
bool may_start_a_graph_def(std::string_view head) {
  if (head.empty()) return false;
  const auto first = static_cast<unsigned char>(head.front());
  return first == 0x0a || first == 0x12 || first == 0x18 || first == 0x22 || first == 0x2a;
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

bool names_a_checkpoint(const fs::path& path) {
  const std::string name = path.filename().string();
  const std::string extension = lowercase(path.extension().string());
  return name == "checkpoint" || extension == ".index" || extension == ".ckpt" ||
         (name.find(".data-") != std::string::npos && name.find("-of-") != std::string::npos);
}

std::optional<std::string> advise_on_zip(const FileSample& sample) {
  if (contains(sample, "config.json") && (contains(sample, "metadata.json") || contains(sample, ".weights.h5"))) {
    return "is a Keras archive (.keras), not a TensorFlow graph: load it with keras.saving.load_model, " +
           std::string(kExportAdvice);
  }
  if (contains(sample, "data.pkl") || contains(sample, "constants.pkl")) {
    return std::string("is a PyTorch file (torch.save or TorchScript), not a TensorFlow model: hepinfer runs "
                       "SavedModels and frozen GraphDefs");
  }
  return std::string("is a zip archive: unpack it and give hepinfer the SavedModel directory or .pb file inside");
}

std::optional<std::string> advise_on_file(const fs::path& path) {
  if (names_a_checkpoint(path)) {
    return "is part of a TensorFlow checkpoint, which holds weights without the graph that uses them: save the "
           "model with its graph, " + std::string(kExportAdvice);
  }
  const FileSample bytes = sample(path);
  const std::string_view head = bytes.head;
  struct Compression {
    std::string_view magic, name, tool;
  };
  for (const Compression& compression : {Compression{"\x1f\x8b", "gzip", "gunzip"},
                                         Compression{"\x28\xb5\x2f\xfd", "zstd", "unzstd"},
                                         Compression{"\xfd" "7zXZ", "xz", "unxz"},
                                         Compression{"BZh", "bzip2", "bunzip2"}}) {
    if (starts_with(head, compression.magic)) {
      return "is " + std::string(compression.name) + "-compressed: decompress it (" + std::string(compression.tool) +
             ") and give hepinfer what it holds";
    }
  }
  if (starts_with(head, "PK\x03\x04") || starts_with(head, "PK\x05\x06")) return advise_on_zip(bytes);
  if (head.size() > 262 && head.substr(257, 5) == "ustar") {
    return std::string("is a tar archive: unpack it (tar xf) and give hepinfer the SavedModel directory or .pb "
                       "file inside");
  }
  constexpr std::string_view kHdf5 = "\x89HDF\r\n\x1a\n";
  for (const std::size_t offset : {0, 512, 1024, 2048}) {  // HDF5 allows a user block before its signature
    if (head.size() >= offset + kHdf5.size() && head.substr(offset, kHdf5.size()) == kHdf5) {
      return "is an HDF5 file (Keras 2's .h5 format), not a TensorFlow graph: load it with "
             "keras.models.load_model, " + std::string(kExportAdvice);
    }
  }
  if (may_start_a_graph_def(head)) return std::nullopt;
  if (head.size() >= 8 && head.substr(4, 4) == "TFL3") {
    return std::string("is a TensorFlow Lite model, which hepinfer does not run: give hepinfer the SavedModel or "
                       "frozen graph it was converted from");
  }
  const bool onnx_name = lowercase(path.extension().string()) == ".onnx";
  if (starts_with(head, "\x08") && (onnx_name || head.find("onnx") != std::string_view::npos ||
                                    head.find("pytorch") != std::string_view::npos)) {
    return std::string("is an ONNX model, which hepinfer does not run: give hepinfer the SavedModel or frozen graph "
                       "it was converted from (ONNX Runtime runs ONNX models)");
  }
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x80 && head[1] >= 2 && head[1] <= 5) {
    return std::string("is a Python pickle (torch.save, joblib), not a TensorFlow model: hepinfer runs SavedModels and "
                       "frozen GraphDefs");
  }
  return std::nullopt;
}

bool holds_saved_model(const fs::path& directory) {
  std::error_code ec;
  return fs::is_regular_file(directory / "saved_model.pb", ec) ||
         fs::is_regular_file(directory / "saved_model.pbtxt", ec);
}

bool all_digits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::string listed(const std::vector<std::string>& names) {
  constexpr std::size_t kShown = 5;
  std::string text;
  for (std::size_t i = 0; i < std::min(names.size(), kShown); ++i) text += (i == 0 ? "" : ", ") + names[i];
  if (names.size() > kShown) text += " and " + std::to_string(names.size() - kShown) + " more";
  return text;
}

std::optional<std::string> advise_on_directory(const fs::path& directory) {
  std::error_code ec;
  if (holds_saved_model(directory) || fs::exists(directory / "manifest.json", ec)) return std::nullopt;
  std::vector<std::string> saved_models, graphs, other_files;
  bool checkpoint = false, empty = true;
  for (fs::directory_iterator entry(directory, ec), end; !ec && entry != end; entry.increment(ec)) {
    empty = false;
    const std::string name = entry->path().filename().string();
    if (entry->is_directory(ec)) {
      if (holds_saved_model(entry->path())) saved_models.push_back(name);
    } else if (names_a_checkpoint(entry->path())) {
      checkpoint = true;
    } else if (const std::string extension = entry->path().extension().string();
               extension == ".pb" || extension == ".pbtxt") {
      graphs.push_back(name);
    } else {
      other_files.push_back(name);
    }
  }
  if (ec) return std::nullopt;
  if (empty) return std::string("is an empty directory; expected a SavedModel (a directory with saved_model.pb)");
  const auto by_version = [](const std::string& a, const std::string& b) {
    if (all_digits(a) && all_digits(b) && a.size() != b.size()) return a.size() < b.size();
    return a < b;
  };
  std::sort(saved_models.begin(), saved_models.end(), by_version);
  std::sort(graphs.begin(), graphs.end());
  std::sort(other_files.begin(), other_files.end());
  const std::string prefix = directory.string() + (directory.string().ends_with('/') ? "" : "/");
  if (!saved_models.empty()) {
    const bool versions = std::all_of(saved_models.begin(), saved_models.end(), all_digits);
    return "is not a SavedModel but holds " + std::string(versions ? "the versions " : "SavedModels in ") +
           listed(saved_models) + (versions ? " of a served model (TF Serving's layout)" : "") +
           ": give hepinfer one of them, e.g. '" + prefix + saved_models.back() + "'";
  }
  if (fs::is_directory(directory / "variables", ec) || fs::exists(directory / "keras_metadata.pb", ec) ||
      fs::exists(directory / "fingerprint.pb", ec)) {
    return std::string("has a SavedModel's variables but no saved_model.pb (its graph): copy that file too, or save "
                       "the model again");
  }
  if (!graphs.empty()) {
    return "is not a SavedModel (it has no saved_model.pb) but holds " + listed(graphs) +
           ": give hepinfer the graph file, e.g. '" + prefix + graphs.front() + "'";
  }
  if (checkpoint) {
    return "holds a TensorFlow checkpoint, which has weights without the graph that uses them: save the model with "
           "its graph, " + std::string(kExportAdvice);
  }
  for (const std::string& name : other_files) {
    if (auto advice = advise_on_file(directory / name)) {
      return "is not a SavedModel (it has no saved_model.pb); it holds '" + name + "', which " + *advice;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> advise_on_model_path(const fs::path& path) noexcept {
  try {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (ec) return std::nullopt;
    if (fs::is_directory(status)) return advise_on_directory(path);
    if (fs::is_regular_file(status)) return advise_on_file(path);
    return std::nullopt;
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace hepinfer
