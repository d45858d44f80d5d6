#include "ioloop/periodic_callback.h"

namespace tornado {

void PeriodicCallback::start() {
  if (running_) return;
  running_ = true;
  next_timeout_ = loop_->time();
  schedule_next();
}

void PeriodicCallback::stop() {
  running_ = false;
  if (timeout_) {
    loop_->remove_timeout(timeout_);
    timeout_ = IOLoop::Timeout();
  }
}

PeriodicCallback::time_point PeriodicCallback::next_deadline(
    time_point next, time_point now, duration period) {
  if (next <= now) {
    // floor((now - next) / period) + 1 periods: skip the missed ticks.
    next += ((now - next) / period + 1) * period;
  }
  return next;
}

void PeriodicCallback::schedule_next() {
  if (!running_) return;
  next_timeout_ = next_deadline(next_timeout_, loop_->time(), period_);
  timeout_ = loop_->add_timeout(next_timeout_, [this] { run(); });
}

void PeriodicCallback::run() {
  timeout_ = IOLoop::Timeout();
  if (!running_) return;
  try {
    callback_();
  } catch (...) {
    loop_->handle_callback_exception(std::current_exception());
  }
  schedule_next();
}

}  // namespace tornado
