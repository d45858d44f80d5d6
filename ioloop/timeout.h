// -----------------------------------------------------------------------------
// timeout.h
// -----------------------------------------------------------------------------
//
// `IOLoop::Timeout` (`IOLoopTimeout`): the handle `call_later`, `call_at`
// and `add_timeout` return, for `remove_timeout`. Copyable; a
// default-constructed one refers to nothing; removing a fired or removed
// one is a no-op. Included by ioloop.h. Thread-compatible (a value).

#ifndef TORNADO_IOLOOP_TIMEOUT_H_
#define TORNADO_IOLOOP_TIMEOUT_H_

#include "tornado/ioloop/internal/timeout_heap.h"

namespace tornado {

class IOLoop;

class IOLoopTimeout {
 public:
  IOLoopTimeout() = default;
  explicit operator bool() const { return handle_.generation != 0; }

 private:
  friend class IOLoop;
  explicit IOLoopTimeout(ioloop_internal::TimeoutHeap::Handle h) : handle_(h) {}
  ioloop_internal::TimeoutHeap::Handle handle_;
};

}  // namespace tornado

#endif  // TORNADO_IOLOOP_TIMEOUT_H_
