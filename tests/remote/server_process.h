#pragma once
// A server process for a test: started with its own process group, killed (the whole group) when
// the test is done or as part of it. Everything is bounded in time.

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace hepinfer::testing {

// A loopback port free a moment ago (bound, read back, closed), for a server the test starts.
inline int free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

class ServerProcess {
 public:
  // Runs `argv` with stdout and stderr to a log file (a pipe could fill and stall a chatty
  // server) and waits (up to `wait`) for a line holding `marker`; what follows it on that line is
  // `announced()` (the stub prints "port N").
  ServerProcess(std::vector<std::string> argv, const std::string& marker,
                std::chrono::seconds wait = std::chrono::seconds(120)) {
    char log_name[] = "/tmp/hepinfer_server_XXXXXX";
    const int log = mkstemp(log_name);
    if (log < 0) throw std::runtime_error("mkstemp failed");
    log_path_ = log_name;
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      setpgid(0, 0);
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      close(log);
      std::vector<char*> args;
      for (auto& arg : argv) args.push_back(arg.data());
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    setpgid(pid_, pid_);
    close(log);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    std::string text;
    while (std::chrono::steady_clock::now() < deadline) {
      usleep(50'000);
      text = log_text();
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      const auto at = text.find(marker);
      const auto end = at == std::string::npos ? std::string::npos : text.find('\n', at);
      if (end != std::string::npos) {
        announced_ = text.substr(at + marker.size(), end - at - marker.size());
        return;
      }
    }
    kill();
    throw std::runtime_error("server '" + argv.front() + "' did not announce '" + marker + "' in time; it printed: " + text);
  }
  ~ServerProcess() {
    kill();
    unlink(log_path_.c_str());
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  const std::string& announced() const { return announced_; }
  pid_t pid() const { return pid_; }
  std::string log_text() const {
    std::string text;
    if (FILE* file = std::fopen(log_path_.c_str(), "r")) {
      char buffer[4096];
      std::size_t got;
      while ((got = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, got);
      std::fclose(file);
    }
    return text;
  }

  // SIGKILL to the whole group, then reaps the process.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  std::string announced_;
};

}  // namespace hepinfer::testing
