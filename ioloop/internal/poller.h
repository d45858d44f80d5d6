// ioloop internals: the poller interface and its two implementations.
// Not for users: include "ioloop/ioloop.h".
//
// One interface, two kernels: epoll(7) (the default, as Tornado's
// EPollIOLoop) and poll(2), so that the IOLoop's test suite runs against
// both (Tornado's configurable-loop idea). Event bits are epoll's, which
// poll(2) shares on Linux: IN=0x001, OUT=0x004, ERR=0x008, HUP=0x010.
//
// Thread-compatible: used only by the loop's thread.

#ifndef TORNADO_IOLOOP_INTERNAL_POLLER_H_
#define TORNADO_IOLOOP_INTERNAL_POLLER_H_

#include <cstdint>
#include <memory>
#include <vector>

namespace tornado::ioloop_internal {

struct PollEvent {
  int fd;
  uint32_t events;
};

class Poller {
 public:
  virtual ~Poller() = default;
  // Registers / changes / forgets the interest set of `fd`. add and
  // modify throw std::system_error naming the fd on failure.
  virtual void add(int fd, uint32_t events) = 0;
  virtual void modify(int fd, uint32_t events) = 0;
  virtual void remove(int fd) noexcept = 0;
  // Waits up to `timeout_ms` (0: do not block) and appends ready fds to
  // `out`. An interrupted wait (EINTR) returns with nothing appended.
  virtual void poll(int timeout_ms, std::vector<PollEvent>& out) = 0;
  virtual const char* name() const = 0;
};

// Both throw std::system_error if the kernel object cannot be created
// (e.g. EMFILE).
std::unique_ptr<Poller> make_epoll_poller();
std::unique_ptr<Poller> make_poll_poller();

}  // namespace tornado::ioloop_internal

#endif  // TORNADO_IOLOOP_INTERNAL_POLLER_H_
