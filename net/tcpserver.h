// -----------------------------------------------------------------------------
// tcpserver.h
// -----------------------------------------------------------------------------
//
// `TCPServer`: accepts connections and hands each to `handle_stream` as an
// IOStream (Tornado 4.5's `tornado.tcpserver.TCPServer`).
//
//   tornado::TCPServer server(
//       [](tornado::IOStream stream, std::string address) -> tornado::Future<void> {
//         for (;;) {
//           std::string line = co_await stream.read_until("\n");
//           co_await stream.write(line);
//         }
//       });
//   server.listen(8888, "127.0.0.1");
//   tornado::IOLoop::current().start();
//
// The handler may be a coroutine (returning Future<void>; a failure is
// logged with its async chain) or a plain function. Or subclass and
// override `handle_stream`.
//
// `listen(port, address)` = `bind` + `start`. An empty address listens on
// every interface, IPv4 and IPv6; "127.0.0.1", "::1", "localhost" and
// such on those only. Port 0 picks a free port (`port()` says which; with
// several families, all share it). Sockets are SO_REUSEADDR and
// close-on-exec; connections are accepted in batches. `stop()` closes the
// listening sockets; streams already handed out stay open.
//
// When accept fails for lack of resources (EMFILE, ENFILE, ENOBUFS,
// ENOMEM) the pending connection stays queued and the listener stays
// readable: the server stops watching its listeners for 100 ms
// (`kAcceptBackoff`) instead of spinning, and logs at most one line per
// second about it (counting the failures not logged). Accepting resumes
// by itself once descriptors are free again.
//
// Thread-compatible: use it on its loop's thread.

#ifndef TORNADO_NET_TCPSERVER_H_
#define TORNADO_NET_TCPSERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "tornado/future/future.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/net/iostream.h"

namespace tornado {

// bind_unix_socket()
//
// A listening unix-domain stream socket at `path` (Tornado's
// netutil.bind_unix_socket), for `TCPServer::add_sockets`. A stale socket
// file at `path` is replaced; any other file there is an error. `mode`
// sets the file's permissions. Throws std::system_error naming the path,
// std::invalid_argument if the path is too long.
int bind_unix_socket(const std::string& path, int mode = 0600, int backlog = 128);

class TCPServer {
 public:
  // Move-only captures (a unique_ptr) are fine. A coroutine handler's
  // captures live as long as each coroutine it started, even past the
  // server's destruction.
  using Handler = absl::AnyInvocable<Future<void>(IOStream, std::string)>;

  // `handler(stream, address)`; `address` is "ip:port" of the peer.
  explicit TCPServer(Handler handler = nullptr, IOLoop* loop = nullptr,
                     IOStream::Options stream_options = {});
  // Adapts a handler returning void.
  template <class F>
    requires std::is_void_v<std::invoke_result_t<F&, IOStream, std::string>>
  explicit TCPServer(F handler, IOLoop* loop = nullptr,
                     IOStream::Options stream_options = {})
      : TCPServer(
            [h = std::move(handler)](IOStream s, std::string a) mutable {
              h(std::move(s), std::move(a));
              return make_ready_future();
            },
            loop, stream_options) {}
  virtual ~TCPServer();

  TCPServer(const TCPServer&) = delete;
  TCPServer& operator=(const TCPServer&) = delete;

  // Throws std::system_error (naming the address) if it cannot bind.
  // `backlog` is listen(2)'s (connections the kernel queues unaccepted).
  void listen(int port, const std::string& address = "", int backlog = 128);
  void bind(int port, const std::string& address = "", int backlog = 128);

  // TCPServer::add_sockets()
  //
  // Adopts sockets already bound and listening (made by the caller, passed
  // down by a supervisor, or by `bind_unix_socket`): the server owns them
  // from now on (made non-blocking; closed by stop()), and accepts on them
  // once started. Throws std::invalid_argument, adopting none, if one is
  // not a listening socket.
  void add_sockets(const std::vector<int>& fds);
  void start();
  void stop();

  // The port bound (the first socket's), or 0.
  int port() const { return port_; }

  static constexpr std::chrono::milliseconds kAcceptBackoff{100};

 protected:
  // Called for each accepted connection; the default calls the handler.
  virtual Future<void> handle_stream(IOStream stream, std::string address);

 private:
  void accept_batch(int listen_fd);
  void watch_listeners();
  void pause_accepting(int err);
  Future<void> start_handler(int fd, std::string address);

  IOLoop& loop() const;  // throws std::logic_error once the loop is closed

  std::shared_ptr<Handler> handler_;
  // The loop's anchor, not the loop: the server may outlive it.
  std::shared_ptr<ioloop_internal::LoopAnchor> anchor_;
  IOStream::Options stream_options_;
  std::vector<int> sockets_;
  bool started_ = false;
  int port_ = 0;
  // Backing off after an accept failure: the listeners are not watched
  // until `resume_` fires.
  bool paused_ = false;
  IOLoop::Timeout resume_;
  // Rate limit of the accept failure log.
  IOLoop::time_point last_accept_log_{};
  uint64_t unlogged_accept_failures_ = 0;
};

}  // namespace tornado

#endif  // TORNADO_NET_TCPSERVER_H_
