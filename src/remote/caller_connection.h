#pragma once
// One kept-alive HTTP/1.1 connection that a synchronous caller drives from its own thread with
// plain system calls on a blocking socket: one gathered send, then recv until the reply is
// complete, the request's deadline enforced through the socket's own timeouts. Against a private
// io_context doing the same, it saves the epoll_wait calls, the timer's timerfd updates and the
// speculative reads around every request (12 system calls per request against KServe become 3:
// sendmsg and two recv, as a plain client's). For an https target it runs TLS itself
// (TlsChannel) over the same calls. Not thread-safe: the owner lends it to one caller at a time.

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "http_pool.h"

namespace hepinfer::remote::detail {

struct TlsChannel;

class CallerConnection {
 public:
  // `endpoints`: the server's addresses, resolved beforehand (resolving here could block long).
  CallerConnection(HttpTarget target, std::vector<boost::asio::ip::tcp::endpoint> endpoints,
                   std::size_t max_reply_bytes);
  ~CallerConnection();
  CallerConnection(const CallerConnection&) = delete;
  CallerConnection& operator=(const CallerConnection&) = delete;

  // Sends `request` and reads the whole reply within `timeout`, connecting first if needed. A
  // kept-alive connection the server closed while it was idle is replaced once, transparently,
  // as HttpPool does. After any failure the connection is closed; the next call reconnects.
  HttpReply exchange(const HttpRequest& request, std::chrono::steady_clock::duration timeout);

 private:
  class Stream;
  bool connect(std::chrono::steady_clock::time_point deadline, HttpReply& reply);
  bool secure(std::chrono::steady_clock::time_point deadline, HttpReply& reply);  // the TLS handshake
  void close();

  HttpTarget target_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  std::size_t max_reply_bytes_;
  int socket_ = -1;
  std::chrono::steady_clock::duration limit_{};  // socket_'s SO_RCVTIMEO and SO_SNDTIMEO
  std::unique_ptr<TlsChannel> tls_;  // https: the session on socket_
  bool used_ = false;  // served a request: a failure at once may just mean the server closed it
  boost::beast::flat_buffer buffer_;  // bytes read beyond a reply stay for the next one
};

}  // namespace hepinfer::remote::detail
