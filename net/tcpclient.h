// -----------------------------------------------------------------------------
// tcpclient.h
// -----------------------------------------------------------------------------
//
// `TCPClient::connect(host, port)`: a future IOStream connected to
// host:port (Tornado 4.5's `tornado.tcpclient.TCPClient`).
//
//   tornado::TCPClient client;
//   tornado::IOStream stream = co_await client.connect("127.0.0.1", 8888, 1s);
//
// The addresses `host` resolves to are tried in order until one connects;
// the future fails with the last error (std::system_error naming the
// address), or with TimeoutError when `timeout` passes first (the attempt
// is abandoned and its socket closed). Name resolution uses getaddrinfo
// and blocks the loop for names that are not numeric addresses.
//
// Thread-compatible: use it on its loop's thread.

#ifndef TORNADO_NET_TCPCLIENT_H_
#define TORNADO_NET_TCPCLIENT_H_

#include <chrono>
#include <optional>
#include <string>

#include "tornado/future/future.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/net/iostream.h"

namespace tornado {

class TCPClient {
 public:
  explicit TCPClient(IOLoop* loop = nullptr, IOStream::Options stream_options = {})
      : loop_(loop), stream_options_(stream_options) {}

  Future<IOStream> connect(const std::string& host, int port) {
    return connect_impl(host, port, std::nullopt);
  }
  template <class Rep, class Period>
  Future<IOStream> connect(const std::string& host, int port,
                           std::chrono::duration<Rep, Period> timeout) {
    return connect_impl(host, port,
                        std::chrono::duration_cast<IOLoop::duration>(timeout));
  }

 private:
  Future<IOStream> connect_impl(const std::string& host, int port,
                                std::optional<IOLoop::duration> timeout);

  IOLoop* loop_;
  IOStream::Options stream_options_;
};

}  // namespace tornado

#endif  // TORNADO_NET_TCPCLIENT_H_
