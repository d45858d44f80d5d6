// -----------------------------------------------------------------------------
// periodic_callback.h
// -----------------------------------------------------------------------------
//
// `PeriodicCallback`: calls a function every `period` on an IOLoop
// (Tornado 4.5's `tornado.ioloop.PeriodicCallback`). The first call is one
// period after `start()`. Calls stay on the grid laid at `start()`: when a
// call overruns, the missed ticks are skipped rather than run in a burst
// (Tornado's `_schedule_next`). An exception from the callback goes to the
// loop's `handle_callback_exception`; the schedule goes on.
//
// Thread-compatible: use it on its loop's thread. Destroying it stops it.

#ifndef TORNADO_IOLOOP_PERIODIC_CALLBACK_H_
#define TORNADO_IOLOOP_PERIODIC_CALLBACK_H_

#include <chrono>
#include <stdexcept>

#include "absl/functional/any_invocable.h"
#include "ioloop/ioloop.h"

namespace tornado {

class PeriodicCallback {
 public:
  using time_point = IOLoop::time_point;
  using duration = IOLoop::duration;

  // Throws std::invalid_argument unless `period` is positive. `loop`
  // defaults to `IOLoop::current()` at construction.
  template <class F, class Rep, class Period>
  PeriodicCallback(F callback, std::chrono::duration<Rep, Period> period,
                   IOLoop* loop = nullptr)
      : callback_(std::move(callback)),
        period_(std::chrono::duration_cast<duration>(period)),
        loop_(loop != nullptr ? loop : &IOLoop::current()) {
    if (period_ <= duration::zero()) {
      throw std::invalid_argument(
          "PeriodicCallback: the period must be positive");
    }
  }
  ~PeriodicCallback() { stop(); }

  PeriodicCallback(const PeriodicCallback&) = delete;
  PeriodicCallback& operator=(const PeriodicCallback&) = delete;

  void start();
  void stop();
  bool is_running() const { return running_; }

  // The next deadline after `next` given the time `now`: `next` advanced
  // by whole periods until it is after `now` (Tornado's _schedule_next).
  static time_point next_deadline(time_point next, time_point now,
                                  duration period);

 private:
  void run();
  void schedule_next();

  absl::AnyInvocable<void()> callback_;
  duration period_;
  IOLoop* loop_;
  bool running_ = false;
  time_point next_timeout_{};
  IOLoop::Timeout timeout_;
};

}  // namespace tornado

#endif  // TORNADO_IOLOOP_PERIODIC_CALLBACK_H_
