// ioloop internals: the small declarations ioloop.h needs before the
// IOLoop class: the Suspended base of //gen's Runner (frames the loop
// owns), the loop-thread marker, and the traits that classify a user's
// callable (does it return a Future? was it made by stack_context::wrap?).
//
// Thread-compatible; `tls_running` is per thread.

#ifndef TORNADO_IOLOOP_INTERNAL_SUPPORT_H_
#define TORNADO_IOLOOP_INTERNAL_SUPPORT_H_

#include <memory>
#include <type_traits>

#include "tornado/future/future.h"
#include "tornado/ioloop/internal/task.h"
#include "tornado/stack_context/stack_context.h"

namespace tornado {
class IOLoop;
}  // namespace tornado

namespace tornado {

namespace ioloop_internal {

// A coroutine suspended on a loop. The loop owns the frame while it is
// suspended: closing or destroying the loop calls `destroy_suspended`.
// Implemented by //gen's Runner.
class Suspended {
 public:
  virtual void destroy_suspended() noexcept = 0;
  // Keeps `p` until the coroutine's frame is destroyed (the callable a
  // coroutine lambda was started from; see "Lifetimes").
  virtual void keep_alive(std::shared_ptr<void> p) noexcept = 0;
  // IOLoop::shutdown: cancel the coroutine (as Future::cancel on its
  // future would); never resumes it inline.
  virtual void cancel_suspended() noexcept = 0;

 protected:
  ~Suspended() = default;

 private:
  friend class ::tornado::IOLoop;
  Suspended* prev_ = nullptr;
  Suspended* next_ = nullptr;
  IOLoop* loop_ = nullptr;
};

// Throws std::logic_error("IOLoop::<where>: the loop is closed").
[[noreturn]] void throw_closed(const char* where);

// The loop running on this thread, if any (set by IOLoop::start).
extern constinit thread_local IOLoop* tls_running;

template <class T>
struct future_value {
  using type = T;
};
template <class T>
struct future_value<Future<T>> {
  using type = T;
};

// What the loop captures for a callable scheduled now: the caller's stack
// contexts, except for a callable made by `stack_context::wrap`, which
// keeps only its own (Tornado's `wrap` returns it unchanged).
template <class F>
ContextRef contexts_for() {
  if constexpr (stack_context::is_wrapped<std::decay_t<F>>::value) {
    return nullptr;
  } else {
    return stack_context_internal::capture();
  }
}

// True when calling `F` with `Args` gives a Future (a coroutine lambda).
template <class F, class... Args>
inline constexpr bool returns_future_v =
    is_future_v<std::invoke_result_t<std::decay_t<F>&, Args...>>;

template <class F>
class OwningCallable;

// For IOLoop's access-controlled internals (//gen, PeriodicCallback).
struct LoopAccess;

}  // namespace ioloop_internal

}  // namespace tornado

#endif  // TORNADO_IOLOOP_INTERNAL_SUPPORT_H_
