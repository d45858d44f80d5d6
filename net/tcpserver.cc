#include "tornado/net/tcpserver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "tornado/logging/logging.h"
#include "tornado/net/internal/address.h"

namespace tornado {

TCPServer::TCPServer(Handler handler, IOLoop* loop,
                     IOStream::Options stream_options)
    : handler_(handler ? std::make_shared<Handler>(std::move(handler)) : nullptr),
      anchor_(ioloop_internal::LoopAccess::anchor(
          loop != nullptr ? *loop : IOLoop::current())),
      stream_options_(stream_options) {}

IOLoop& TCPServer::loop() const {
  IOLoop* l = anchor_->get();
  if (l == nullptr) ioloop_internal::throw_closed("TCPServer");
  return *l;
}

TCPServer::~TCPServer() { stop(); }

void TCPServer::listen(int port, const std::string& address, int backlog) {
  bind(port, address, backlog);
  start();
}

void TCPServer::add_sockets(const std::vector<int>& fds) {
  for (int fd : fds) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (fd < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
        !listening) {
      throw std::invalid_argument("TCPServer::add_sockets: fd " + std::to_string(fd) +
                                  " is not a listening socket");
    }
  }
  sockets_.reserve(sockets_.size() + fds.size());
  for (int fd : fds) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (port_ == 0) port_ = net_internal::local_port(fd);
    sockets_.push_back(fd);
    // While paused, the resume watches it with the others.
    if (started_ && !paused_) {
      loop().add_handler(fd, [this](int lfd, uint32_t) { accept_batch(lfd); },
                         IOLoop::READ);
    }
  }
}

int bind_unix_socket(const std::string& path, int mode, int backlog) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    throw std::invalid_argument("bind_unix_socket: path '" + path +
                                "' is empty or too long for a unix socket");
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw std::system_error(EEXIST, std::generic_category(),
                              "bind_unix_socket: '" + path + "' exists and is not a socket");
    }
    ::unlink(path.c_str());  // a stale socket from an earlier run
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "bind_unix_socket: socket");
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0 ||
      ::listen(fd, backlog) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(),
                            "bind_unix_socket: cannot listen on '" + path + "'");
  }
  return fd;
}

void TCPServer::bind(int port, const std::string& address, int backlog) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  int rc = getaddrinfo(address.empty() ? nullptr : address.c_str(),
                       service.c_str(), &hints, &res);
  if (rc != 0) {
    throw std::system_error(EINVAL, std::generic_category(),
                            "TCPServer::bind: cannot resolve '" + address +
                                "': " + gai_strerror(rc));
  }
  int bound_port = port;
  std::vector<int> made;
  try {
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (ai->ai_family == AF_INET6) {
        // One socket per family, as Tornado's bind_sockets.
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      }
      net_internal::set_port(ai->ai_addr, bound_port);
      if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
          ::listen(fd, backlog) != 0) {
        int err = errno;
        ::close(fd);
        throw std::system_error(err, std::generic_category(),
                                "TCPServer::bind: cannot listen on " +
                                    net_internal::format_address(ai->ai_addr));
      }
      if (bound_port == 0) bound_port = net_internal::local_port(fd);
      made.push_back(fd);
    }
  } catch (...) {
    freeaddrinfo(res);
    for (int fd : made) ::close(fd);
    throw;
  }
  freeaddrinfo(res);
  if (made.empty()) {
    throw std::system_error(EADDRNOTAVAIL, std::generic_category(),
                            "TCPServer::bind: no usable address for '" +
                                address + "'");
  }
  if (port_ == 0) port_ = bound_port;
  for (int fd : made) {
    sockets_.push_back(fd);
    // While paused, the resume watches it with the others.
    if (started_ && !paused_) {
      loop().add_handler(fd, [this](int lfd, uint32_t) { accept_batch(lfd); },
                         IOLoop::READ);
    }
  }
}

void TCPServer::start() {
  if (started_) return;
  started_ = true;
  watch_listeners();
}

void TCPServer::watch_listeners() {
  for (int fd : sockets_) {
    loop().add_handler(fd, [this](int lfd, uint32_t) { accept_batch(lfd); },
                       IOLoop::READ);
  }
}

void TCPServer::stop() {
  IOLoop* l = anchor_->get();
  if (paused_) {
    // The listeners are not registered; the resume must not run.
    if (l != nullptr) l->remove_timeout(resume_);
    paused_ = false;
  }
  for (int fd : sockets_) {
    if (started_ && l != nullptr) l->remove_handler(fd);
    ::close(fd);
  }
  sockets_.clear();
  started_ = false;
}

void TCPServer::pause_accepting(int err) {
  IOLoop& l = loop();
  const IOLoop::time_point now = l.time();
  // One line per second at most: a full fd table can last, and each
  // resume fails again until it is over.
  if (last_accept_log_ == IOLoop::time_point{} ||
      now - last_accept_log_ >= std::chrono::seconds(1)) {
    std::string line = std::string("TCPServer: accept failed: ") +
                       std::strerror(err) + "; pausing accepts for " +
                       std::to_string(kAcceptBackoff.count()) + " ms";
    if (unlogged_accept_failures_ > 0) {
      line += " (" + std::to_string(unlogged_accept_failures_) +
              " failures not logged since the last line)";
    }
    logging::error(line);
    last_accept_log_ = now;
    unlogged_accept_failures_ = 0;
  } else {
    ++unlogged_accept_failures_;
  }
  if (paused_) return;
  // The listener stays readable (the connection is still queued), so
  // watching it would spin: stop watching every listener, then try again.
  // (Removing the running handler is safe: the loop keeps it until it
  // returns.)
  paused_ = true;
  for (int fd : sockets_) l.remove_handler(fd);
  resume_ = l.call_later(kAcceptBackoff, [this] {
    paused_ = false;
    if (started_) watch_listeners();
  });
}

void TCPServer::accept_batch(int listen_fd) {
  // Up to 128 per readiness event, so one busy listener does not starve
  // the loop (Tornado accepts _DEFAULT_BACKLOG at a time).
  for (int i = 0; i < 128; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      // EMFILE, ENFILE, ENOBUFS, ENOMEM, or something unexpected: retrying
      // at once would fail the same way.
      pause_accepting(err);
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::string address =
        net_internal::format_address(reinterpret_cast<sockaddr*>(&peer));
    // A failed handler is reported (with its async chain), not lost.
    start_handler(fd, std::move(address)).add_done_callback([](Future<void> f) {
      if (std::exception_ptr e = f.exception()) {
        logging::error("Error in connection handler: " + logging::describe(e));
      }
    });
  }
}

Future<void> TCPServer::start_handler(int fd, std::string address) {
  try {
    return handle_stream(IOStream(fd, &loop(), stream_options_), std::move(address));
  } catch (...) {
    return make_exceptional_future<void>(std::current_exception());
  }
}

Future<void> TCPServer::handle_stream(IOStream stream, std::string address) {
  if (!handler_) {
    throw std::logic_error(
        "TCPServer: no handler given and handle_stream not overridden");
  }
  // The handler (a coroutine lambda's captures) lives as long as the
  // coroutine it started, even if the server is destroyed first.
  std::shared_ptr<Handler> handler = handler_;
  Future<void> f = (*handler)(std::move(stream), std::move(address));
  ioloop_internal::keep_alive_with(f, std::move(handler));
  return f;
}

}  // namespace tornado
