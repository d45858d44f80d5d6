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
// Connections. The server tracks the connections it has handed out: one
// counts (`connections()`) from its accept until its handler has finished
// and its stream is closed (or its last handle gone). A plain-function
// handler finishes at once; its connection counts until its stream closes.
//
// Idle timeout (`set_idle_timeout`): a connection with no bytes received
// or sent for that long is closed; the handler's pending read or write
// fails with StreamClosedError whose `real_error()` is a TimeoutError. The
// check costs nothing per read or write: a timer per connection compares
// the stream's byte counters every quarter of the timeout, so a silent
// connection is closed after between 1 and 1.25 times the timeout.
//
// Graceful shutdown (`close_all(deadline)`): stops accepting, lets the
// handlers finish until the deadline, then closes the streams still open
// (their pending reads and writes fail with StreamClosedError whose
// `real_error()` is a TimeoutError, so handlers run their catch blocks
// and unwind); its future completes once every connection is done:
//
//   server.stop();  // optional: close_all stops accepting too
//   co_await server.close_all(std::chrono::seconds(10));
//
// Lifetimes: the server's bookkeeping lives as long as the server or any
// of its handlers (their completion updates it); it holds streams only
// weakly (tracking never keeps a stream open). Destroying the server stops
// accepting and withdraws its idle timers; connections stay open with
// their handlers, and a close_all in progress goes on and completes.
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

namespace net_internal {
class ServerConnections;
}  // namespace net_internal

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
  // from now on (made non-blocking; closed by stop()) and, as Tornado's
  // add_sockets, starts accepting on them at once (this is `start()`: it
  // also starts sockets bound by `bind` and not started yet). Throws
  // std::invalid_argument, adopting none, if one is not a listening socket.
  void add_sockets(const std::vector<int>& fds);
  // Starts accepting on the bound sockets. Idempotent.
  void start();
  // Stops accepting: closes the listening sockets. Connections already
  // accepted go on (see close_all). Idempotent.
  void stop();

  // The port bound (the first socket's), or 0.
  int port() const { return port_; }

  // TCPServer::set_idle_timeout()
  //
  // Closes a connection that has received and sent nothing for `timeout`
  // (see the file comment), connections already open included (their idle
  // time counts from this call). Zero (or less) turns it off (the
  // default); `IOLoop::duration::max()` is never.
  template <class Rep, class Period>
  void set_idle_timeout(std::chrono::duration<Rep, Period> timeout) {
    set_idle_timeout_impl(ioloop_internal::saturating_duration(timeout));
  }
  IOLoop::duration idle_timeout() const;

  // TCPServer::connections()
  //
  // Connections handed out and not done: handler running or stream open.
  size_t connections() const;

  // TCPServer::close_all()
  //
  // Graceful shutdown: `stop()`s accepting, waits until `deadline` for the
  // connections to finish, then closes the streams still open (cause: a
  // TimeoutError). The future completes once `connections()` is 0: every
  // handler has returned (its locals destroyed) and every stream is
  // closed. A handler awaiting something other than its stream (a sleep)
  // is not interrupted; the future waits for it. Completes at once if
  // there are no connections. Calling it again while it runs returns the
  // same future (the earlier deadline wins). Past deadlines mean now.
  Future<void> close_all(IOLoop::time_point deadline);
  template <class Rep, class Period>
  Future<void> close_all(std::chrono::duration<Rep, Period> grace) {
    return close_all(ioloop_internal::deadline_after(loop().time(), grace));
  }

  static constexpr std::chrono::milliseconds kAcceptBackoff{100};

 protected:
  // Called for each accepted connection; the default calls the handler.
  virtual Future<void> handle_stream(IOStream stream, std::string address);

 private:
  void accept_batch(int listen_fd);
  void watch_listeners();
  void pause_accepting(int err);
  void start_handler(int fd, std::string address);
  void set_idle_timeout_impl(IOLoop::duration timeout);

  IOLoop& loop() const;  // throws std::logic_error once the loop is closed

  std::shared_ptr<Handler> handler_;
  // Shared with the handlers' completion callbacks (see "Lifetimes").
  std::shared_ptr<net_internal::ServerConnections> connections_;
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
