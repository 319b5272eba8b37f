#pragma once
// TLS between Beast and a TCP connection, for both transports: a connection's TLS session with its
// buffers (TlsChannel), and Beast's asynchronous stream concepts over it and a beast::tcp_stream
// (TlsStream, async_tls_handshake) for the I/O thread's pool. Every byte still moves through the
// tcp_stream, so its deadline bounds the handshake, reads and writes as it bounds plain HTTP.
// The caller's own connection drives the same session with system calls (caller_connection.cpp).

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "http_message.h"
#include "http_pool.h"
#include "tls_engine.h"

namespace hepinfer::remote::detail {

struct TlsChannel {
  explicit TlsChannel(const HttpTarget& target) : session(target.tls, target.host) {}
  tls::ClientSession session;
  std::string output;                       // ciphertext on its way to the server
  std::string gathered;                     // plaintext pieces joined before encryption
  std::array<char, 17 * 1024> input;        // ciphertext as received: a TLS record at most
};

// Encrypts the first bytes of `buffers` into channel.output, at most kMaxPlaintextPerWrite of them
// (Beast's writes go on with the rest), and sets `plaintext` to how many; false when the session
// failed. A request that fits one TLS record has its pieces joined first, so that its header and
// body go out in one record rather than two (each record costs its own framing and cipher set-up).
// Both bounds keep a connection's buffers small however large its requests are.
constexpr std::size_t kTlsRecordPlaintext = 16 * 1024;
constexpr std::size_t kMaxPlaintextPerWrite = 4 * kTlsRecordPlaintext;

template <class ConstBuffers>
bool encrypt(TlsChannel& channel, const ConstBuffers& buffers, std::size_t& plaintext) {
  plaintext = 0;
  std::size_t total = 0, pieces = 0;
  for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
    const std::size_t size = boost::asio::buffer_size(*it);
    total += size;
    pieces += size > 0 ? 1 : 0;
  }
  if (pieces > 1 && total <= kTlsRecordPlaintext) {
    channel.gathered.clear();
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      const boost::asio::const_buffer piece = *it;
      channel.gathered.append(static_cast<const char*>(piece.data()), piece.size());
    }
    const tls::Progress progress = channel.session.write(channel.gathered.data(), channel.gathered.size());
    channel.session.take_output(channel.output);
    plaintext = total;
    return progress == tls::Progress::kDone;
  }
  for (auto it = boost::asio::buffer_sequence_begin(buffers);
       it != boost::asio::buffer_sequence_end(buffers) && plaintext < kMaxPlaintextPerWrite; ++it) {
    const boost::asio::const_buffer piece = *it;
    const std::size_t size = std::min(piece.size(), kMaxPlaintextPerWrite - plaintext);
    if (size == 0) continue;
    if (channel.session.write(piece.data(), size) != tls::Progress::kDone) return false;
    plaintext += size;
  }
  channel.session.take_output(channel.output);
  return true;
}

// Whether a write failed because the server closed the connection under it (reset, broken pipe).
inline bool closed_under_write(const boost::beast::error_code& error) {
  return error == boost::asio::error::broken_pipe || error == boost::asio::error::connection_reset;
}

// Why the server closed a connection under a write, when it said so first. With TLS 1.3 a server
// checks the client's certificate after the client's handshake has ended, so its refusal (an alert)
// can arrive while a request is still going out, and the write fails with the alert unread.
// `receive_queued(data, size)` returns bytes that have already arrived, 0 when none: it never waits,
// since the alert came before the close that failed the write. Returns the session's error when an
// alert was among those bytes, else empty.
template <class ReceiveQueued>
std::string alert_before_close(TlsChannel& channel, ReceiveQueued&& receive_queued) {
  std::array<char, 512> plaintext;
  for (int records = 0; records < 64; ++records) {  // a server that keeps sending is not waited for
    std::size_t received = 0;
    switch (channel.session.read(plaintext.data(), plaintext.size(), received)) {
      case tls::Progress::kFailed: return channel.session.error();
      case tls::Progress::kDone: continue;  // data before the alert: not what is looked for
      case tls::Progress::kWantInput: break;
      case tls::Progress::kClosed:
      case tls::Progress::kTruncated: return {};
    }
    const std::size_t bytes = receive_queued(channel.input.data(), channel.input.size());
    if (bytes == 0) return {};
    channel.session.receive(channel.input.data(), bytes);
  }
  return {};
}

namespace tls_ops {

namespace asio = boost::asio;
namespace beast = boost::beast;

// Completing a composed operation from inside its initiating call would run the caller's handler
// before the initiating function returns; such results are posted instead.
template <class Self, class... Results>
void complete_later(Self& self, bool initiating, Results... results) {
  if (initiating) {
    auto executor = self.get_executor();
    asio::post(executor, [self = std::move(self), results...]() mutable { self.complete(results...); });
  } else {
    self.complete(results...);
  }
}

class Read {
 public:
  Read(beast::tcp_stream& next, TlsChannel& channel, asio::mutable_buffer target)
      : next_(next), channel_(channel), target_(target) {}

  template <class Self>
  void operator()(Self& self, beast::error_code error = {}, std::size_t bytes = 0) {
    const bool initiating = step_ == Step::kStart;
    if (step_ == Step::kSending) {
      if (error) return self.complete(error, std::size_t{0});
      channel_.output.clear();
    } else if (step_ == Step::kReceiving) {
      if (error == asio::error::eof) {
        channel_.session.receive_end();  // what is buffered is still read; then kClosed or kTruncated
      } else if (error) {
        return self.complete(error, std::size_t{0});
      } else {
        channel_.session.receive(channel_.input.data(), bytes);
      }
    }
    if (target_.size() == 0) return complete_later(self, initiating, beast::error_code{}, std::size_t{0});
    std::size_t received = 0;
    switch (channel_.session.read(target_.data(), target_.size(), received)) {
      case tls::Progress::kDone: return complete_later(self, initiating, beast::error_code{}, received);
      case tls::Progress::kClosed:
        return complete_later(self, initiating, beast::error_code(asio::error::eof), std::size_t{0});
      case tls::Progress::kTruncated: return complete_later(self, initiating, tls_truncated(), std::size_t{0});
      case tls::Progress::kFailed: return complete_later(self, initiating, tls_failure(), std::size_t{0});
      case tls::Progress::kWantInput: break;
    }
    if (channel_.session.has_output()) {  // e.g. an answer to a key update
      channel_.session.take_output(channel_.output);
      step_ = Step::kSending;
      asio::async_write(next_, asio::buffer(channel_.output), std::move(self));
      return;
    }
    step_ = Step::kReceiving;
    next_.async_read_some(asio::buffer(channel_.input), std::move(self));
  }

 private:
  enum class Step { kStart, kSending, kReceiving };
  beast::tcp_stream& next_;
  TlsChannel& channel_;
  asio::mutable_buffer target_;
  Step step_ = Step::kStart;
};

template <class ConstBuffers>
class Write {
 public:
  Write(beast::tcp_stream& next, TlsChannel& channel, const ConstBuffers& buffers)
      : next_(next), channel_(channel), buffers_(buffers) {}

  template <class Self>
  void operator()(Self& self, beast::error_code error = {}, std::size_t = 0) {
    if (sending_) {
      channel_.output.clear();
      return self.complete(error, error ? std::size_t{0} : plaintext_);
    }
    if (!encrypt(channel_, buffers_, plaintext_)) return complete_later(self, true, tls_failure(), std::size_t{0});
    if (channel_.output.empty()) return complete_later(self, true, beast::error_code{}, std::size_t{0});
    sending_ = true;
    asio::async_write(next_, asio::buffer(channel_.output), std::move(self));
  }

 private:
  beast::tcp_stream& next_;
  TlsChannel& channel_;
  ConstBuffers buffers_;
  std::size_t plaintext_ = 0;
  bool sending_ = false;
};

class Handshake {
 public:
  Handshake(beast::tcp_stream& next, TlsChannel& channel) : next_(next), channel_(channel) {}

  template <class Self>
  void operator()(Self& self, beast::error_code error = {}, std::size_t bytes = 0) {
    const bool initiating = step_ == Step::kStart;
    if (step_ == Step::kAlerting) return self.complete(tls_failure());  // whether the alert went or not
    if (step_ == Step::kSending) {
      if (error) return self.complete(error);
      channel_.output.clear();
    } else if (step_ == Step::kReceiving) {
      if (error) return self.complete(error);
      channel_.session.receive(channel_.input.data(), bytes);
    }
    const tls::Progress progress = channel_.session.handshake();
    // A failed handshake may leave an alert saying why (e.g. "unknown CA"): it goes to the server
    // first, so that the server's log says more than that the client went away.
    if (channel_.session.has_output()) {
      channel_.session.take_output(channel_.output);
      step_ = progress == tls::Progress::kFailed ? Step::kAlerting : Step::kSending;
      asio::async_write(next_, asio::buffer(channel_.output), std::move(self));
      return;
    }
    switch (progress) {
      case tls::Progress::kDone: return complete_later(self, initiating, beast::error_code{});
      case tls::Progress::kWantInput: break;
      case tls::Progress::kClosed:
      case tls::Progress::kTruncated:
        return complete_later(self, initiating, beast::error_code(asio::error::eof));
      case tls::Progress::kFailed: return complete_later(self, initiating, tls_failure());
    }
    step_ = Step::kReceiving;
    next_.async_read_some(asio::buffer(channel_.input), std::move(self));
  }

 private:
  enum class Step { kStart, kSending, kReceiving, kAlerting };
  beast::tcp_stream& next_;
  TlsChannel& channel_;
  Step step_ = Step::kStart;
};

}  // namespace tls_ops

// Beast's AsyncReadStream and AsyncWriteStream over a TLS channel and the TCP stream beneath it.
// One operation at a time, not a read and a write at once: a read may itself send (an answer to a
// key update) and shares the channel's output buffer with writes. HTTP/1.1 exchanges alternate.
class TlsStream {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;

  TlsStream(boost::beast::tcp_stream& next, TlsChannel& channel) : next_(next), channel_(channel) {}
  executor_type get_executor() noexcept { return next_.get_executor(); }

  template <class MutableBuffers, class Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    boost::asio::mutable_buffer target;
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      target = *it;
      if (target.size() > 0) break;
    }
    return boost::asio::async_compose<Handler, void(boost::beast::error_code, std::size_t)>(
        tls_ops::Read(next_, channel_, target), handler, next_);
  }

  template <class ConstBuffers, class Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    return boost::asio::async_compose<Handler, void(boost::beast::error_code, std::size_t)>(
        tls_ops::Write<ConstBuffers>(next_, channel_, buffers), handler, next_);
  }

 private:
  boost::beast::tcp_stream& next_;
  TlsChannel& channel_;
};

// Runs the TLS handshake over a connected `next`; `handler(error_code)`.
template <class Handler>
auto async_tls_handshake(boost::beast::tcp_stream& next, TlsChannel& channel, Handler&& handler) {
  return boost::asio::async_compose<Handler, void(boost::beast::error_code)>(tls_ops::Handshake(next, channel),
                                                                              handler, next);
}

}  // namespace hepinfer::remote::detail
