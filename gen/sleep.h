// -----------------------------------------------------------------------------
// sleep.h
// -----------------------------------------------------------------------------
//
// `gen::sleep(duration)` and `gen::maybe_future(value)`.
//
// Thread-compatible: call on the loop's thread.

#ifndef TORNADO_GEN_SLEEP_H_
#define TORNADO_GEN_SLEEP_H_

#include <chrono>
#include <utility>

#include "tornado/future/future.h"
#include "tornado/ioloop/ioloop.h"

namespace tornado::gen {

namespace gen_internal {
// The timer's callable: completes the sleep, and withdraws the future's
// cancel hook (which names the loop) when it fires or is dropped.
class SleepWake {
 public:
  explicit SleepWake(Future<void> f) : f_(std::move(f)) {}
  SleepWake(SleepWake&&) noexcept = default;
  // Done or not: a sleep completed by someone else (it is a plain future)
  // must not keep naming the loop's hook once the loop drops the timer.
  ~SleepWake() { future_internal::Access::clear_cancel_hook(f_); }
  void operator()() {
    future_internal::Access::clear_cancel_hook(f_);
    if (!f_.done()) f_.set_result();
  }

 private:
  Future<void> f_;
};
}  // namespace gen_internal

// sleep()
//
// A future done after `duration`, on `IOLoop::current()`. Cancelling it
// removes its timer at once and completes it with CancelledError.
template <class Rep, class Period>
Future<void> sleep(std::chrono::duration<Rep, Period> duration) {
  Future<void> f;
  future_internal::Access::set_label(f, "sleep");
  IOLoop& loop = IOLoop::current();
  IOLoop::Timeout t = loop.call_later(duration, gen_internal::SleepWake(f));
  ioloop_internal::LoopAccess::cancel_removes_timer(loop, f, t);
  return f;
}

// maybe_future()
//
// A done future holding `value`; a future is returned as it is.
template <class T>
auto maybe_future(T value) {
  if constexpr (is_future_v<T>) {
    return value;
  } else {
    return make_ready_future(std::move(value));
  }
}

}  // namespace tornado::gen

#endif  // TORNADO_GEN_SLEEP_H_
