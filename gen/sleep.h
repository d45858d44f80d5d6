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

// sleep()
//
// A future done after `duration`, on `IOLoop::current()`.
template <class Rep, class Period>
Future<void> sleep(std::chrono::duration<Rep, Period> duration) {
  Future<void> f;
  future_internal::Access::set_label(f, "sleep");
  IOLoop::current().call_later(duration, [f]() mutable { f.set_result(); });
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
