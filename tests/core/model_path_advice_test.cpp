// Files and folders that are not TensorFlow models are named for what they are, with what to give
// hepinfer instead; what may be a model is left to the loaders. (tests/cli checks the same on files
// Keras, TF Lite, ONNX and TF wrote.)

#include "hepinfer/core/model_path_advice.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "scratch_directory.h"

namespace hepinfer {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

class ModelPathAdvice : public ::testing::Test {
 protected:
  fs::path write(const fs::path& relative, const std::string& bytes) const {
    const fs::path path = scratch_.path() / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  static void expect_advice(const fs::path& path, const std::string& expected) {
    const auto advice = advise_on_model_path(path);
    ASSERT_TRUE(advice.has_value()) << path;
    EXPECT_NE(advice->find(expected), std::string::npos) << *advice;
  }

  test::ScratchDirectory scratch_;
};

// A GraphDef as TF writes it starts with a node (field 1, length-delimited: 0x0a).
const std::string kGraphDefStart("\x0a\x10\x0a\x01x\x12\x0bPlaceholder", 18);

TEST_F(ModelPathAdvice, RecognisesFilesOfOtherFormatsByTheirBytes) {
  expect_advice(write("a.keras", std::string("PK\x03\x04", 4) + std::string(40, '\0') + "metadata.json....config.json"),
                "is a Keras archive (.keras)");
  expect_advice(write("a.pt", std::string("PK\x03\x04", 4) + std::string(40, '\0') + "archive/data.pkl"),
                "is a PyTorch file");
  expect_advice(write("a.zip", std::string("PK\x03\x04", 4) + "saved_model/saved_model.pb"), "is a zip archive");
  expect_advice(write("a.h5", std::string("\x89HDF\r\n\x1a\n", 8) + std::string(100, '\0')), "is an HDF5 file");
  expect_advice(write("user_block.h5", std::string(512, '\0') + std::string("\x89HDF\r\n\x1a\n", 8)), "is an HDF5 file");
  expect_advice(write("a.tflite", std::string("\x1c\0\0\0TFL3", 8) + std::string(64, '\0')), "TensorFlow Lite");
  expect_advice(write("a.onnx", "\x08\x07\x12\x07tf2onnx"s), "is an ONNX model");
  expect_advice(write("renamed.pb", "\x08\x08\x12\x07pytorch"s), "is an ONNX model");
  expect_advice(write("a.pkl", std::string("\x80\x04\x95", 3)), "is a Python pickle");
  expect_advice(write("frozen.pb.gz", std::string("\x1f\x8b\x08\x00", 4)), "gzip-compressed");
  expect_advice(write("frozen.pb.zst", std::string("\x28\xb5\x2f\xfd", 4)), "zstd-compressed");
  expect_advice(write("frozen.pb.xz", std::string("\xfd" "7zXZ\0", 6)), "xz-compressed");
  expect_advice(write("frozen.pb.bz2", "BZh91AY"), "bzip2-compressed");
  expect_advice(write("model.tar", std::string(257, 'a') + "ustar" + std::string(300, '\0')), "is a tar archive");
}

TEST_F(ModelPathAdvice, RecognisesCheckpointsByTheirNames) {
  expect_advice(write("ckpt/checkpoint", "model_checkpoint_path: \"model-1\"\n"), "TensorFlow checkpoint");
  expect_advice(write("ckpt/model-1.index", kGraphDefStart), "TensorFlow checkpoint");
  expect_advice(write("ckpt/model-1.data-00000-of-00001", kGraphDefStart), "TensorFlow checkpoint");
  expect_advice(scratch_.path() / "ckpt", "holds a TensorFlow checkpoint");
}

TEST_F(ModelPathAdvice, LeavesWhatMayBeAGraphDefToTheLoader) {
  EXPECT_FALSE(advise_on_model_path(write("frozen.pb", kGraphDefStart)));
  // The bytes a TF Lite file has at offset 4 could begin a node's name; a GraphDef's first byte decides.
  EXPECT_FALSE(advise_on_model_path(write("tfl3.pb", std::string("\x0a\x08\x0a\x04TFL3", 8))));
  EXPECT_FALSE(advise_on_model_path(write("noise.pb", "just some text")));
  EXPECT_FALSE(advise_on_model_path(write("empty.pb", "")));
  EXPECT_FALSE(advise_on_model_path(scratch_.path() / "does_not_exist"));
}

TEST_F(ModelPathAdvice, PointsIntoFoldersThatHoldModels) {
  write("serving/1/saved_model.pb", kGraphDefStart);
  write("serving/2/saved_model.pb", kGraphDefStart);
  write("serving/10/saved_model.pbtxt", "meta_graphs {}");
  expect_advice(scratch_.path() / "serving", "holds the versions 1, 2, 10 of a served model (TF Serving's layout)");
  expect_advice(scratch_.path() / "serving", "e.g. '" + (scratch_.path() / "serving" / "10").string() + "'");
  write("exports/tagger/saved_model.pb", kGraphDefStart);
  expect_advice(scratch_.path() / "exports", "holds SavedModels in tagger");
  write("graphs/b.pb", kGraphDefStart);
  write("graphs/a.pbtxt", "node {}");
  expect_advice(scratch_.path() / "graphs", "holds a.pbtxt, b.pb: give hepinfer the graph file");
  write("half_copied/variables/variables.index", "");
  expect_advice(scratch_.path() / "half_copied", "no saved_model.pb (its graph)");
  write("keras_folder/model.keras", std::string("PK\x03\x04", 4) + "metadata.json config.json");
  expect_advice(scratch_.path() / "keras_folder", "it holds 'model.keras', which is a Keras archive");
  fs::create_directories(scratch_.path() / "empty");
  expect_advice(scratch_.path() / "empty", "is an empty directory");
}

TEST_F(ModelPathAdvice, LeavesSavedModelsAndArtifactsToTheirLoaders) {
  write("saved/saved_model.pb", kGraphDefStart);
  write("saved/1/saved_model.pb", kGraphDefStart);
  EXPECT_FALSE(advise_on_model_path(scratch_.path() / "saved"));
  write("text/saved_model.pbtxt", "meta_graphs {}");
  EXPECT_FALSE(advise_on_model_path(scratch_.path() / "text"));
  write("model.xla/manifest.json", "{}");
  EXPECT_FALSE(advise_on_model_path(scratch_.path() / "model.xla"));
  write("unknown/notes.txt", "a folder of something else");
  EXPECT_FALSE(advise_on_model_path(scratch_.path() / "unknown"));
}

}  // namespace
}  // namespace hepinfer
