#include "tornado/net/tcpclient.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>
#include <vector>

#include "tornado/net/internal/address.h"

namespace tornado {
namespace {

// One connect: the addresses to try, the socket being tried, the timer.
// The CancelHook of its result: cancelling the connect closes the socket
// being tried and removes the timer at once (nothing leaks, unlike a
// timeout that only stops waiting). The hook is cleared when the result
// completes and when the attempt goes (a closed loop drops it).
struct Attempt final : std::enable_shared_from_this<Attempt>, future_internal::CancelHook {
  ~Attempt() { future_internal::Access::clear_cancel_hook(result); }

  bool cancel_requested(future_internal::RefCount*, uintptr_t) noexcept override {
    const auto self = weak_from_this().lock();  // alive while we work
    future_internal::Access::clear_cancel_hook(result);
    abandon_socket();
    if (timer && !loop->closed()) loop->remove_timeout(timer);
    return false;  // cancel() completes the result
  }

  IOLoop* loop;
  IOStream::Options options;
  std::vector<sockaddr_storage> addresses;
  std::vector<socklen_t> lengths;
  size_t next = 0;
  int fd = -1;
  bool watching = false;
  Future<IOStream> result;
  IOLoop::Timeout timer;
  std::exception_ptr last_error;

  void abandon_socket() {
    if (watching && !loop->closed()) loop->remove_handler(fd);
    watching = false;
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  void succeed() {
    if (result.done()) return abandon_socket();
    future_internal::Access::clear_cancel_hook(result);
    if (watching && !loop->closed()) loop->remove_handler(fd);
    watching = false;
    int connected = std::exchange(fd, -1);
    if (timer) loop->remove_timeout(timer);
    int one = 1;
    setsockopt(connected, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    result.set_result(IOStream(connected, loop, options));
  }

  void fail_attempt(int err) {
    last_error = std::make_exception_ptr(std::system_error(
        err, std::generic_category(),
        "TCPClient::connect: cannot connect to " +
            net_internal::format_address(
                reinterpret_cast<sockaddr*>(&addresses[next - 1]))));
    abandon_socket();
    try_next();
  }

  void try_next() {
    if (result.done()) return;
    if (next >= addresses.size()) {
      if (timer) loop->remove_timeout(timer);
      future_internal::Access::clear_cancel_hook(result);
      result.set_exception(last_error);
      return;
    }
    size_t i = next++;
    fd = socket(addresses[i].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail_attempt(errno);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addresses[i]), lengths[i]) == 0) {
      return succeed();
    }
    if (errno != EINPROGRESS) return fail_attempt(errno);
    watching = true;
    loop->add_handler(
        fd,
        [self = shared_from_this()](int, uint32_t) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(self->fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err == 0) {
            self->succeed();
          } else {
            self->fail_attempt(err);
          }
        },
        IOLoop::WRITE);
  }
};

}  // namespace

Future<IOStream> TCPClient::connect_impl(const std::string& host, int port,
                                         std::optional<IOLoop::duration> timeout) {
  IOLoop* loop = loop_ != nullptr ? loop_ : &IOLoop::current();
  auto attempt = std::make_shared<Attempt>();
  attempt->loop = loop;
  attempt->options = stream_options_;
  Future<IOStream> result = attempt->result;

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    result.set_exception(std::make_exception_ptr(std::system_error(
        EINVAL, std::generic_category(),
        "TCPClient::connect: cannot resolve '" + host + "': " + gai_strerror(rc))));
    return result;
  }
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    sockaddr_storage ss{};
    std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    attempt->addresses.push_back(ss);
    attempt->lengths.push_back(ai->ai_addrlen);
  }
  freeaddrinfo(res);

  if (timeout) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(*timeout).count();
    attempt->timer = loop->call_later(*timeout, [attempt, host, port, ms] {
      if (attempt->result.done()) return;
      attempt->abandon_socket();
      future_internal::Access::clear_cancel_hook(attempt->result);
      attempt->result.set_exception(std::make_exception_ptr(TimeoutError(
          "TCPClient::connect: timed out after " + std::to_string(ms) +
          " ms connecting to " + host + ":" + std::to_string(port))));
    });
  }
  future_internal::Access::set_cancel_hook(result, attempt.get(), 0);
  attempt->try_next();
  return result;
}

}  // namespace tornado
