// -----------------------------------------------------------------------------
// periodic_callback.h
// -----------------------------------------------------------------------------
//
// `PeriodicCallback`: calls a function every `period` on an IOLoop
// (Tornado 4.5's `tornado.ioloop.PeriodicCallback`). The first call is one
// period after `start()`. Calls stay on the grid laid at `start()`: when a
// call overruns, the missed ticks are skipped rather than run in a burst
// (Tornado's `_schedule_next`). An exception from the callback goes to the
// loop's `handle_callback_exception`; the schedule goes on. The callback
// may return a `Future` (a coroutine lambda): the loop watches it as
// `add_callback` does, and the callable lives as long as the coroutines it
// started.
//
// Lifetimes: the loop holds only a timeout that the PeriodicCallback
// withdraws when stopped or destroyed (also from inside its own callback:
// `stop(); start();` there keeps one schedule, and destroying the object
// there is safe). The PeriodicCallback holds its loop's anchor, not the
// loop: it may outlive the loop, and then does nothing.
//
// Thread-compatible: use it on its loop's thread. Destroying it stops it.

#ifndef TORNADO_IOLOOP_PERIODIC_CALLBACK_H_
#define TORNADO_IOLOOP_PERIODIC_CALLBACK_H_

#include <chrono>
#include <memory>
#include <stdexcept>

#include "tornado/ioloop/internal/inline_function.h"
#include "tornado/ioloop/ioloop.h"

namespace tornado {

class PeriodicCallback {
 public:
  using time_point = IOLoop::time_point;
  using duration = IOLoop::duration;

  // Throws std::invalid_argument unless `period` is positive (a huge
  // period saturates: the callback never runs). `loop`, if given, is the
  // loop it runs on; otherwise it binds, at each `start()`, to
  // `IOLoop::current()` of that moment (so one made before `make_current`
  // runs on the loop it is started on).
  template <class F, class Rep, class Period>
  PeriodicCallback(F callback, std::chrono::duration<Rep, Period> period,
                   IOLoop* loop = nullptr)
      : callback_(ioloop_internal::adapt_callable(std::move(callback))),
        period_(ioloop_internal::saturating_duration(period)) {
    if (loop != nullptr) explicit_anchor_ = ioloop_internal::LoopAccess::anchor(*loop);
    if (period_ <= duration::zero()) {
      throw std::invalid_argument(
          "PeriodicCallback: the period must be positive");
    }
  }
  ~PeriodicCallback();

  PeriodicCallback(const PeriodicCallback&) = delete;
  PeriodicCallback& operator=(const PeriodicCallback&) = delete;

  // Throws std::logic_error if the loop is closed (or, when one was given
  // at construction, destroyed).
  void start();
  void stop();
  bool is_running() const { return running_; }

  // The next deadline after `next` given the time `now`: `next` advanced
  // by whole periods until it is after `now` (Tornado's _schedule_next).
  // Saturates at time_point::max().
  static time_point next_deadline(time_point next, time_point now,
                                  duration period);

 private:
  void run();
  void schedule_next();
  IOLoop* loop() const;  // null once the loop is closed or gone

  ioloop_internal::InlineFunction<void()> callback_;
  duration period_;
  // The loop given at construction, if any, and the loop started on.
  std::shared_ptr<ioloop_internal::LoopAnchor> explicit_anchor_;
  std::shared_ptr<ioloop_internal::LoopAnchor> anchor_;
  bool running_ = false;
  time_point next_timeout_{};
  IOLoop::Timeout timeout_;
  // Set while the callback runs; the destructor sets *destroyed_ so that
  // run() does not touch a PeriodicCallback destroyed by its own callback.
  bool* destroyed_ = nullptr;
};

}  // namespace tornado

#endif  // TORNADO_IOLOOP_PERIODIC_CALLBACK_H_
