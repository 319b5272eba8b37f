// What the remote backend's own protocol code costs per request, without the network: the
// request encoded (its JSON header and tensor bytes), written as HTTP/1.1 by Beast into memory,
// a real reply of the server (captured once by the plain-socket exchange) parsed by Beast and
// decoded into tensors. A hot loop on one thread, so it is a lower bound of that code's share of
// client CPU per request; the rest of a request's client CPU is the system calls (the plain-socket
// floor) and running cold after each wake-up. Not the whole backend path: no call bookkeeping,
// no locks, no hand-offs.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "hepinfer/core/error.h"
#include "hepinfer/core/model.h"
#include "http_message.h"  // src/remote: what both transports share
#include "oip_codec.h"

namespace hepinfer::bench {

struct ProtocolWork {
  std::int64_t iterations = 0;
  double encode_us = 0, write_us = 0, read_us = 0, decode_us = 0;  // per request
  double total_us() const { return encode_us + write_us + read_us + decode_us; }
};

namespace protocol_work_detail {

// Beast's synchronous stream concepts over memory: writes are appended to `written`, reads come
// from `reply`.
struct MemoryStream {
  std::string* written;
  std::string_view reply;
  std::size_t offset = 0;

  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, boost::beast::error_code& error) {
    error = {};
    std::size_t bytes = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      const boost::asio::const_buffer piece = *it;
      written->append(static_cast<const char*>(piece.data()), piece.size());
      bytes += piece.size();
    }
    return bytes;
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, boost::beast::error_code& error) {
    error = {};
    const boost::asio::mutable_buffer target = *boost::asio::buffer_sequence_begin(buffers);
    const std::size_t bytes = std::min(target.size(), reply.size() - offset);
    if (bytes == 0) {
      error = boost::asio::error::eof;
      return 0;
    }
    std::memcpy(target.data(), reply.data() + offset, bytes);
    offset += bytes;
    return bytes;
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers) {
    boost::beast::error_code error;
    return write_some(buffers, error);
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    boost::beast::error_code error;
    return read_some(buffers, error);
  }
};

}  // namespace protocol_work_detail

// Runs the loop for `seconds` on `inputs` (binary extension) and `reply`, a whole HTTP reply to
// such a request. Throws BackendError when the reply does not parse or decode.
inline ProtocolWork measure_protocol_work(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& outputs,
                                          const std::string& model_name, std::string_view reply, double seconds) {
  namespace http = boost::beast::http;
  using Clock = std::chrono::steady_clock;
  using Micros = std::chrono::duration<double, std::micro>;
  remote::detail::HttpTarget target;
  target.host = "127.0.0.1";
  target.port = "8000";
  std::string written;
  ProtocolWork work;
  Micros encode{}, write{}, read{}, decode{};
  const Clock::time_point end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    const Clock::time_point start = Clock::now();
    remote::detail::EncodedRequest encoded = remote::detail::encode_infer_request(inputs, outputs, true, "");
    remote::detail::HttpRequest request;
    request.method = "POST";
    request.path = "/v2/models/" + model_name + "/infer";
    request.body = std::move(encoded.body);
    request.inference_header = encoded.header_length;
    request.content_type = "application/octet-stream";
    const Clock::time_point encoded_at = Clock::now();

    written.clear();
    protocol_work_detail::MemoryStream stream{&written, reply};
    boost::beast::error_code error;
    http::write(stream, remote::detail::beast_request(request, target), error);
    const Clock::time_point written_at = Clock::now();

    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::size_t{64} << 20);
    http::read(stream, buffer, parser, error);
    if (error) throw BackendError("protocol work: the captured reply does not parse: " + error.message());
    remote::detail::HttpReply parsed;
    remote::detail::fill_reply(parser.release(), parsed);
    const Clock::time_point read_at = Clock::now();

    const std::vector<NamedTensor> tensors = remote::detail::decode_infer_response(parsed.body, parsed.inference_header);
    if (tensors.empty()) throw BackendError("protocol work: the captured reply holds no tensor");
    const Clock::time_point decoded_at = Clock::now();
    encode += encoded_at - start;
    write += written_at - encoded_at;
    read += read_at - written_at;
    decode += decoded_at - read_at;
    ++work.iterations;
  }
  const double count = static_cast<double>(std::max<std::int64_t>(1, work.iterations));
  work.encode_us = encode.count() / count;
  work.write_us = write.count() / count;
  work.read_us = read.count() / count;
  work.decode_us = decode.count() / count;
  return work;
}

}  // namespace hepinfer::bench
