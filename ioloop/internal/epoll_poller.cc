#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "tornado/ioloop/internal/poller.h"

namespace tornado::ioloop_internal {
namespace {

[[noreturn]] void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

class EpollPoller final : public Poller {
 public:
  // The fd is made before the object (a throwing polymorphic constructor
  // trips GCC 12's -fsanitize=vptr).
  explicit EpollPoller(int epfd) : epfd_(epfd) {}
  ~EpollPoller() override { close(epfd_); }

  void add(int fd, uint32_t events) override { ctl(EPOLL_CTL_ADD, fd, events); }
  void modify(int fd, uint32_t events) override {
    ctl(EPOLL_CTL_MOD, fd, events);
  }
  void remove(int fd) noexcept override {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  }

  void poll(int timeout_ms, std::vector<PollEvent>& out) override {
    epoll_event events[kBatch];
    int n = epoll_wait(epfd_, events, kBatch, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) return;
      throw_errno(errno, "IOLoop: epoll_wait failed");
    }
    for (int i = 0; i < n; ++i) out.push_back({events[i].data.fd, events[i].events});
  }

  const char* name() const override { return "epoll"; }

 private:
  static constexpr int kBatch = 256;

  void ctl(int op, int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epfd_, op, fd, &ev) < 0) {
      throw_errno(errno, "IOLoop: epoll_ctl(" +
                             std::string(op == EPOLL_CTL_ADD ? "ADD" : "MOD") +
                             ") failed for fd " + std::to_string(fd));
    }
  }

  int epfd_;
};

}  // namespace

std::unique_ptr<Poller> make_epoll_poller() {
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) throw_errno(errno, "IOLoop: epoll_create1 failed");
  return std::make_unique<EpollPoller>(epfd);
}

}  // namespace tornado::ioloop_internal
