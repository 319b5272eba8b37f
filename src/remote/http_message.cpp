#include "http_message.h"

#include <charconv>
#include <string>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>

#include "bearer_token.h"

namespace hepinfer::remote::detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr int kHttp11 = 11;

std::optional<std::size_t> parse_size(beast::string_view text) {
  std::size_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

const boost::system::error_category& tls_category() {
  class Category final : public boost::system::error_category {
   public:
    const char* name() const noexcept override { return "hepinfer.tls"; }
    std::string message(int code) const override {
      return code == 2 ? "the connection ended before the server closed the TLS session" : "the TLS session failed";
    }
  };
  static const Category category;
  return category;
}

HttpFailure classify(const beast::error_code& error) {
  if (error == beast::error::timeout) return HttpFailure::kTimeout;
  if (error == http::error::body_limit) return HttpFailure::kTooLarge;
  if (error == http::error::header_limit) return HttpFailure::kTooLarge;
  const beast::error_code end_of_stream = http::error::end_of_stream;
  if (error.category() == end_of_stream.category() && error != http::error::end_of_stream &&
      error != http::error::partial_message) {
    return HttpFailure::kProtocol;
  }
  return HttpFailure::kIo;
}

bool stale_connection_error(const beast::error_code& error) {
  return error == http::error::end_of_stream || error == asio::error::connection_reset ||
         error == asio::error::broken_pipe || error == asio::error::eof || error == tls_truncated();
}

http::request<http::span_body<const char>> beast_request(const HttpRequest& request, const HttpTarget& target) {
  http::request<http::span_body<const char>> message{request.method == "POST" ? http::verb::post : http::verb::get,
                                           request.path, kHttp11};
  message.set(http::field::host, target.host + ":" + target.port);
  message.keep_alive(true);
  if (!request.content_type.empty()) message.set(http::field::content_type, request.content_type);
  if (target.token) message.set(http::field::authorization, target.token->header());
  if (request.inference_header) message.set("Inference-Header-Content-Length", std::to_string(*request.inference_header));
  message.body() = {request.body.data(), request.body.size()};
  message.prepare_payload();
  return message;
}

void fill_reply(http::response<http::string_body>&& response, HttpReply& reply) {
  reply.status = static_cast<int>(response.result_int());
  if (auto header = response.find("Inference-Header-Content-Length"); header != response.end()) {
    reply.inference_header = parse_size(header->value());
    if (!reply.inference_header) {
      reply.failure = HttpFailure::kProtocol;
      reply.error = "Inference-Header-Content-Length '" + std::string(header->value().substr(0, 40)) + "' is not a size";
      return;
    }
  }
  reply.body = std::move(response.body());
}

}  // namespace hepinfer::remote::detail
