// What one Open Inference Protocol request costs a client that does nothing but the system calls:
// the request's bytes encoded once beforehand, one blocking send, blocking receives until the reply
// has ended, no parsing, no tensors. On loopback that is the kernel's share (the send also
// delivers into the server's socket and wakes it) plus a client's minimum; bench_remote measures it
// in the same run as the remote backend, so client CPU per request can be judged against it.
#pragma once

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hepinfer/core/model.h"
#include "oip_codec.h"  // src/remote: the backend's own encoder

namespace hepinfer::bench {

// The binary-extension infer request the remote backend would send for `inputs`, as HTTP/1.1
// bytes ready to send (its own encoder, called once here instead of once per request).
inline std::string plain_infer_request(const std::string& host, const std::string& port, const std::string& model_name,
                                       const std::vector<NamedTensor>& inputs,
                                       const std::vector<std::string>& outputs) {
  const remote::detail::EncodedRequest encoded =
      remote::detail::encode_infer_request(inputs, outputs, /*binary=*/true, "");
  return "POST /v2/models/" + model_name + "/infer HTTP/1.1\r\nHost: " + host + ":" + port +
         "\r\nContent-Type: application/octet-stream\r\nInference-Header-Content-Length: " +
         std::to_string(*encoded.header_length) + "\r\nContent-Length: " + std::to_string(encoded.body.size()) +
         "\r\n\r\n" + encoded.body;
}

// One kept-alive connection sending the same request again and again.
class PlainSocketExchange {
 public:
  // `base_url`: "http://HOST:PORT".
  PlainSocketExchange(const std::string& base_url, const std::string& model_name, const std::vector<NamedTensor>& inputs,
                      const std::vector<std::string>& outputs) {
    const std::string prefix = "http://";
    const std::string rest = base_url.rfind(prefix, 0) == 0 ? base_url.substr(prefix.size()) : base_url;
    const std::string authority = rest.substr(0, rest.find('/'));
    const std::size_t colon = authority.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("plain socket floor: no port in " + base_url);
    const std::string host = authority.substr(0, colon), port = authority.substr(colon + 1);
    request_ = plain_infer_request(host, port, model_name, inputs, outputs);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
      throw std::runtime_error("plain socket floor: cannot resolve " + authority);
    }
    socket_ = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool connected = socket_ >= 0 && ::connect(socket_, found->ai_addr, found->ai_addrlen) == 0;
    freeaddrinfo(found);
    if (!connected) throw std::runtime_error("plain socket floor: cannot connect to " + authority);
    const int on = 1;
    setsockopt(socket_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    buffer_.resize(std::size_t{1} << 20);
  }
  ~PlainSocketExchange() {
    if (socket_ >= 0) ::close(socket_);
  }
  PlainSocketExchange(const PlainSocketExchange&) = delete;
  PlainSocketExchange& operator=(const PlainSocketExchange&) = delete;

  // Sends the request and receives until the reply has ended; returns its HTTP status.
  int exchange() {
    for (std::size_t sent = 0; sent < request_.size();) {
      const ssize_t n = ::send(socket_, request_.data() + sent, request_.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("plain socket floor: send failed");
      sent += static_cast<std::size_t>(n);
    }
    std::size_t received = 0;
    while (true) {
      if (received == buffer_.size()) throw std::runtime_error("plain socket floor: reply above 1 MiB");
      const ssize_t n = ::recv(socket_, buffer_.data() + received, buffer_.size() - received, 0);
      if (n <= 0) throw std::runtime_error("plain socket floor: connection closed");
      received += static_cast<std::size_t>(n);
      if (complete(std::string_view(buffer_.data(), received))) break;
    }
    received_ = received;
    return std::atoi(buffer_.data() + std::strlen("HTTP/1.1 "));
  }
  // The last reply, as the server sent it.
  std::string_view last_reply() const { return {buffer_.data(), received_}; }

 private:
  // The reply's end, found the cheapest way: its Content-Length, or the last chunk of a chunked
  // body. Enough for a server answering well-formed replies, which is all this baseline meets.
  static bool complete(std::string_view reply) {
    const std::size_t head_end = reply.find("\r\n\r\n");
    if (head_end == std::string_view::npos) return false;
    std::string head(reply.substr(0, head_end));
    std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
    if (head.find("transfer-encoding: chunked") != std::string::npos) {
      return reply.size() >= head_end + 9 && reply.substr(reply.size() - 5) == "0\r\n\r\n" &&
             reply[reply.size() - 6] == '\n';
    }
    const std::size_t length_at = head.find("content-length: ");
    const std::size_t length = length_at == std::string::npos ? 0 : std::stoul(head.substr(length_at + 16));
    return reply.size() >= head_end + 4 + length;
  }

  int socket_ = -1;
  std::string request_;
  std::vector<char> buffer_;
  std::size_t received_ = 0;
};

}  // namespace hepinfer::bench
