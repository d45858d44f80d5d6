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

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "tornado/logging/logging.h"
#include "tornado/net/internal/address.h"

namespace tornado {

namespace net_internal {

// What the server may do with a stream beyond its public API: hold it
// weakly (tracking must not keep a connection open). Stateless; the
// streams it touches are thread-compatible (the loop's thread).
struct StreamAccess {
  static std::weak_ptr<StreamImpl> weak(const IOStream& stream) {
    return stream.impl_;
  }
  static IOStream from(std::shared_ptr<StreamImpl> impl) {
    return IOStream(std::move(impl));
  }
};

namespace {
std::string millis(IOLoop::duration d) {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}
}  // namespace

// ServerConnections
//
// A TCPServer's connections: for each stream it handed out, a weak
// reference to the stream, whether its handler has finished, and the idle
// timeout's state; and the close_all in progress, if any.
//
// Lifetimes: the server owns it, and so does each handler's completion
// callback (so it outlives the server while handlers run). The timers and
// callbacks it schedules for one connection (idle checks, rechecks) hold
// it weakly and are withdrawn by `withdraw_idle_timers()` (the server's
// destructor); those of a close_all in progress hold it strongly, so a
// drain started goes on after the server is gone. Nothing it schedules
// refers to the server. Its destructor does not touch the loop (it may run
// while the loop closes).
//
// Thread-compatible: the loop's thread.
class ServerConnections
    : public std::enable_shared_from_this<ServerConnections> {
 public:
  explicit ServerConnections(std::shared_ptr<ioloop_internal::LoopAnchor> anchor)
      : anchor_(std::move(anchor)) {}

  ServerConnections(const ServerConnections&) = delete;
  ServerConnections& operator=(const ServerConnections&) = delete;

  // A new connection; returns its id (for handler_done).
  uint64_t add(const IOStream& stream) {
    const uint64_t id = next_id_++;
    Conn& c = conns_[id];  // may throw: nothing else is changed yet
    c.stream = StreamAccess::weak(stream);
    if (idle_enabled()) {
      if (IOLoop* l = anchor_->get()) {
        try {
          c.last_active = l->time();
          arm_idle(id, c, *l, c.last_active);
        } catch (...) {
          conns_.erase(id);
          throw;
        }
      }
    }
    return id;
  }

  // The connection's handler has finished (its future is done). Its
  // coroutine frame still holds the stream here (the future completes
  // before the frame goes), so an open stream is looked at again on the
  // next iteration.
  void handler_done(uint64_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    it->second.handler_done = true;
    if (finished(it->second)) {
      remove(it);
    } else if (IOLoop* l = anchor_->get()) {
      l->add_callback([weak = weak_from_this(), id] {
        if (auto self = weak.lock()) self->recheck(id);
      });
    }
    if (draining_) schedule_drain_check();
  }

  size_t count() {
    prune();
    return conns_.size();
  }

  // Connections already open start their idle clock now.
  void set_idle_timeout(IOLoop::duration timeout) {
    idle_timeout_ = std::max(timeout, IOLoop::duration::zero());
    IOLoop* l = anchor_->get();
    if (l == nullptr) return;
    const IOLoop::time_point now = l->time();
    for (auto& [id, c] : conns_) {
      l->remove_timeout(c.idle_timer);
      c.idle_timer = IOLoop::Timeout();
      if (!idle_enabled()) continue;
      std::optional<IOStream> s = open_stream(c);
      if (!s) continue;
      c.seen_bytes = s->bytes_received() + s->bytes_sent();
      c.last_active = now;
      arm_idle(id, c, *l, now);
    }
  }
  IOLoop::duration idle_timeout() const { return idle_timeout_; }

  // See TCPServer::close_all.
  Future<void> close_all(IOLoop& loop, IOLoop::time_point deadline) {
    if (draining_) {
      if (deadline < drain_deadline_) {
        IOLoop::Timeout t = arm_deadline(loop, deadline);
        loop.remove_timeout(deadline_timer_);
        deadline_timer_ = t;
        drain_deadline_ = deadline;
      }
      return *drained_;
    }
    prune();
    if (conns_.empty()) return make_ready_future();
    Future<void> drained;
    future_internal::Access::set_label(drained, "TCPServer close_all");
    // Construct, then publish: the timer first (it may throw).
    deadline_timer_ = arm_deadline(loop, deadline);
    drain_deadline_ = deadline;
    drained_ = drained;
    draining_ = true;
    watch_handed_off(loop);
    return drained;
  }

  // The server is going away: its idle timeouts end with it.
  void withdraw_idle_timers() {
    idle_timeout_ = IOLoop::duration::zero();
    IOLoop* l = anchor_->get();
    for (auto& [id, c] : conns_) {
      if (c.idle_timer && l != nullptr) l->remove_timeout(c.idle_timer);
      c.idle_timer = IOLoop::Timeout();
    }
  }

 private:
  struct Conn {
    std::weak_ptr<StreamImpl> stream;
    bool handler_done = false;
    // Idle timeout: the stream's byte count at the last check, and when
    // it was last seen to change (or the accept).
    IOLoop::Timeout idle_timer;
    uint64_t seen_bytes = 0;
    IOLoop::time_point last_active{};
  };
  using Map = std::unordered_map<uint64_t, Conn>;

  // How often a close_all looks again at connections whose handler has
  // returned with their stream open (a plain-function handler): the
  // server learns of those streams' closing only by looking.
  static constexpr std::chrono::milliseconds kDrainPoll{10};

  bool idle_enabled() const {
    return idle_timeout_ > IOLoop::duration::zero() &&
           idle_timeout_ != IOLoop::duration::max();
  }

  static std::optional<IOStream> open_stream(const Conn& c) {
    std::shared_ptr<StreamImpl> impl = c.stream.lock();
    if (impl == nullptr) return std::nullopt;
    IOStream s = StreamAccess::from(std::move(impl));
    if (s.closed()) return std::nullopt;
    return s;
  }
  static bool finished(const Conn& c) {
    return c.handler_done && !open_stream(c);
  }

  void remove(Map::iterator it) {
    if (it->second.idle_timer) {
      if (IOLoop* l = anchor_->get()) l->remove_timeout(it->second.idle_timer);
    }
    conns_.erase(it);
  }

  void prune() {
    for (auto it = conns_.begin(); it != conns_.end();) {
      auto next = std::next(it);
      if (finished(it->second)) remove(it);
      it = next;
    }
  }

  void recheck(uint64_t id) {
    auto it = conns_.find(id);
    if (it != conns_.end() && finished(it->second)) remove(it);
  }

  // The next idle check: when the connection would have been idle for the
  // whole timeout, or a quarter of it from now, whichever is first.
  void arm_idle(uint64_t id, Conn& c, IOLoop& loop, IOLoop::time_point now) {
    const IOLoop::time_point at =
        std::min(ioloop_internal::saturating_add(c.last_active, idle_timeout_),
                 ioloop_internal::saturating_add(now, idle_timeout_ / 4));
    c.idle_timer = loop.call_at(at, [weak = weak_from_this(), id] {
      if (auto self = weak.lock()) self->idle_check(id);
    });
  }

  void idle_check(uint64_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    Conn& c = it->second;
    c.idle_timer = IOLoop::Timeout();
    if (!idle_enabled()) return;
    std::optional<IOStream> s = open_stream(c);
    if (!s) {
      if (c.handler_done) remove(it);
      return;
    }
    IOLoop* l = anchor_->get();
    if (l == nullptr) return;
    const IOLoop::time_point now = l->time();
    const uint64_t bytes = s->bytes_received() + s->bytes_sent();
    if (bytes != c.seen_bytes) {
      c.seen_bytes = bytes;
      c.last_active = now;
    } else if (now >= ioloop_internal::saturating_add(c.last_active, idle_timeout_)) {
      // Closing may run callbacks that change conns_: `c` is not used
      // after this.
      s->close(std::make_exception_ptr(TimeoutError(
          "TCPServer: connection idle for " + millis(now - c.last_active) +
          " ms (idle timeout " + millis(idle_timeout_) + " ms)")));
      return;
    }
    arm_idle(id, c, *l, now);
  }

  IOLoop::Timeout arm_deadline(IOLoop& loop, IOLoop::time_point deadline) {
    return loop.call_at(deadline, [self = shared_from_this()] {
      self->deadline_passed();
    });
  }

  void deadline_passed() {
    deadline_timer_ = IOLoop::Timeout();
    std::vector<IOStream> open;
    open.reserve(conns_.size());
    for (auto& [id, c] : conns_) {
      if (std::optional<IOStream> s = open_stream(c)) open.push_back(*s);
    }
    // Closing runs callbacks (which may change conns_): from the copy.
    for (IOStream& s : open) {
      s.close(std::make_exception_ptr(
          TimeoutError("TCPServer::close_all: the deadline passed")));
    }
    schedule_drain_check();
  }

  // On the next iteration: by then a finished handler's frame is gone
  // (its locals destroyed), and so is its hold on the stream.
  void schedule_drain_check() {
    if (drain_check_scheduled_) return;
    IOLoop* l = anchor_->get();
    if (l == nullptr) return;
    l->add_callback([self = shared_from_this()] {
      self->drain_check_scheduled_ = false;
      self->drain_check();
    });
    drain_check_scheduled_ = true;
  }

  void drain_check() {
    if (!draining_) return;
    prune();
    if (conns_.empty()) {
      finish_drain();
      return;
    }
    if (IOLoop* l = anchor_->get()) watch_handed_off(*l);
  }

  // While draining, connections whose handler returned with the stream
  // open are looked at every kDrainPoll.
  void watch_handed_off(IOLoop& loop) {
    if (poll_timer_) return;
    const bool handed_off =
        std::any_of(conns_.begin(), conns_.end(),
                    [](const auto& e) { return e.second.handler_done; });
    if (!handed_off) return;
    poll_timer_ = loop.call_later(kDrainPoll, [self = shared_from_this()] {
      self->poll_timer_ = IOLoop::Timeout();
      self->drain_check();
    });
  }

  void finish_drain() {
    draining_ = false;
    if (IOLoop* l = anchor_->get()) {
      l->remove_timeout(deadline_timer_);
      l->remove_timeout(poll_timer_);
    }
    deadline_timer_ = IOLoop::Timeout();
    poll_timer_ = IOLoop::Timeout();
    Future<void> drained = std::move(*drained_);
    drained_.reset();
    if (!drained.done()) drained.set_result();  // unless cancelled meanwhile
  }

  std::shared_ptr<ioloop_internal::LoopAnchor> anchor_;
  Map conns_;
  uint64_t next_id_ = 0;
  IOLoop::duration idle_timeout_ = IOLoop::duration::zero();

  // close_all in progress.
  bool draining_ = false;
  std::optional<Future<void>> drained_;
  IOLoop::time_point drain_deadline_{};
  IOLoop::Timeout deadline_timer_;
  IOLoop::Timeout poll_timer_;
  bool drain_check_scheduled_ = false;
};

}  // namespace net_internal

TCPServer::TCPServer(Handler handler, IOLoop* loop,
                     IOStream::Options stream_options)
    : handler_(handler ? std::make_shared<Handler>(std::move(handler)) : nullptr),
      anchor_(ioloop_internal::LoopAccess::anchor(
          loop != nullptr ? *loop : IOLoop::current())),
      stream_options_(stream_options) {
  connections_ = std::make_shared<net_internal::ServerConnections>(anchor_);
}

void TCPServer::set_idle_timeout_impl(IOLoop::duration timeout) {
  connections_->set_idle_timeout(timeout);
}

IOLoop::duration TCPServer::idle_timeout() const {
  return connections_->idle_timeout();
}

size_t TCPServer::connections() const { return connections_->count(); }

Future<void> TCPServer::close_all(IOLoop::time_point deadline) {
  IOLoop& l = loop();
  stop();
  return connections_->close_all(l, deadline);
}

IOLoop& TCPServer::loop() const {
  IOLoop* l = anchor_->get();
  if (l == nullptr) ioloop_internal::throw_closed("TCPServer");
  return *l;
}

TCPServer::~TCPServer() {
  stop();
  connections_->withdraw_idle_timers();
}

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
  start();  // Tornado's add_sockets accepts at once
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
    start_handler(fd, std::move(address));
  }
}

void TCPServer::start_handler(int fd, std::string address) {
  std::optional<IOStream> stream;
  try {
    stream.emplace(fd, &loop(), stream_options_);  // owns the fd from here
  } catch (...) {
    ::close(fd);
    throw;
  }
  const uint64_t id = connections_->add(*stream);
  Future<void> done = [&] {
    try {
      return handle_stream(std::move(*stream), std::move(address));
    } catch (...) {
      return make_exceptional_future<void>(std::current_exception());
    }
  }();
  // A failed handler is reported (with its async chain), not lost; its
  // end is the connection's (the registry outlives the server for it).
  try {
    done.add_done_callback([conns = connections_, id](Future<void> f) {
      if (std::exception_ptr e = f.exception()) {
        logging::error("Error in connection handler: " + logging::describe(e));
      }
      conns->handler_done(id);
    });
  } catch (...) {
    connections_->handler_done(id);
    throw;
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
