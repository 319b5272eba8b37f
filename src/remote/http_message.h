#pragma once
// What both HTTP transports share (the pool on the I/O thread and the caller's own connection):
// the request as Beast writes it, the reply as HttpReply holds it, and which errors mean what.

#include <cstddef>
#include <cstdint>
#include <optional>

#include <boost/beast/http.hpp>

#include "http_pool.h"

namespace hepinfer::remote::detail {

constexpr std::uint32_t kMaxReplyHeaderBytes = 64 * 1024;
// A connection's read buffer starts this large, so that a small reply (headers and body) arrives in
// one recv: Beast reads 512 bytes at a time into an empty buffer (two or three recvs a reply).
constexpr std::size_t kReplyReadBufferBytes = 16 * 1024;

// The body is not copied: it stays in `request`, which must outlive the message.
boost::beast::http::request<boost::beast::http::span_body<const char>> beast_request(const HttpRequest& request,
                                                                                     const HttpTarget& target);

// Fills `reply` from a complete response; a malformed binary header length is a kProtocol failure.
void fill_reply(boost::beast::http::response<boost::beast::http::string_body>&& response, HttpReply& reply);

HttpFailure classify(const boost::beast::error_code& error);

// The error codes of TLS: the session failed (its error() says why), or the connection ended
// without the server ending the TLS session first (a reply may have been cut short). Both are
// kIo failures: the request goes to another server, as for a broken connection.
const boost::system::error_category& tls_category();
inline boost::system::error_code tls_failure() { return {1, tls_category()}; }
inline boost::system::error_code tls_truncated() { return {2, tls_category()}; }

// The error a connection dropped by the server while idle shows on its next use.
bool stale_connection_error(const boost::beast::error_code& error);

}  // namespace hepinfer::remote::detail
