// Only regular files are read: devices, FIFOs and directories are refused by name, not read.

#include "hepinfer/core/file_read.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "hepinfer/core/error.h"
#include "hepinfer/core/npy.h"

namespace hepinfer {
namespace {

namespace fs = std::filesystem;

class FileRead : public ::testing::Test {
 protected:
  fs::path dir_ = fs::temp_directory_path() / ("hepinfer_file_read_" + std::to_string(::getpid()) + "_" +
                                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
  void SetUp() override { fs::create_directories(dir_); }
  void TearDown() override { fs::remove_all(dir_); }

  template <class ErrorType>
  void expect_refused(const fs::path& path, const std::string& kind) {
    try {
      read_npy(path);
      ADD_FAILURE() << "read " << path;
    } catch (const ErrorType& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find(path.string()), std::string::npos) << message;
      EXPECT_NE(message.find(kind), std::string::npos) << message;
    }
  }
};

TEST_F(FileRead, RegularFilesAreRead) {
  std::ofstream(dir_ / "text") << "contents";
  EXPECT_EQ(read_regular_file(dir_ / "text", "a test file"), "contents");
}

TEST_F(FileRead, ADeviceIsRefusedNotReadForever) { expect_refused<InvalidArgumentError>("/dev/zero", "character device"); }

TEST_F(FileRead, AFifoIsRefusedNotWaitedOn) {
  const fs::path fifo = dir_ / "pipe.npy";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_refused<InvalidArgumentError>(fifo, "FIFO");
}

TEST_F(FileRead, ADirectoryIsRefused) { expect_refused<InvalidArgumentError>(dir_, "directory"); }

TEST_F(FileRead, AMissingFileIsNotFound) { expect_refused<FileNotFoundError>(dir_ / "absent.npy", "does not exist"); }

TEST_F(FileRead, ASymbolicLinkToARegularFileIsFollowed) {
  std::ofstream(dir_ / "target") << "linked";
  fs::create_symlink(dir_ / "target", dir_ / "link");
  EXPECT_EQ(read_regular_file(dir_ / "link", "a test file"), "linked");
}

}  // namespace
}  // namespace hepinfer
