#include "tornado/ioloop/periodic_callback.h"

namespace tornado {

PeriodicCallback::~PeriodicCallback() {
  if (destroyed_ != nullptr) *destroyed_ = true;
  stop();
}

IOLoop* PeriodicCallback::loop() const {
  return anchor_ ? anchor_->get() : nullptr;
}

void PeriodicCallback::start() {
  if (running_) return;
  IOLoop* chosen = explicit_anchor_ ? explicit_anchor_->get() : &IOLoop::current();
  if (chosen == nullptr || chosen->closed()) {
    throw std::logic_error("PeriodicCallback::start: the loop is closed");
  }
  IOLoop& loop = *chosen;
  anchor_ = ioloop_internal::LoopAccess::anchor(loop);
  running_ = true;
  next_timeout_ = loop.time();
  try {
    schedule_next();
  } catch (...) {
    running_ = false;
    throw;
  }
}

void PeriodicCallback::stop() {
  running_ = false;
  if (timeout_) {
    if (IOLoop* l = loop()) l->remove_timeout(timeout_);
    timeout_ = IOLoop::Timeout();
  }
}

PeriodicCallback::time_point PeriodicCallback::next_deadline(
    time_point next, time_point now, duration period) {
  if (next <= now) {
    // floor((now - next) / period) + 1 periods: skip the missed ticks.
    const auto missed = ioloop_internal::until(now, next) / period + 1;
    duration::rep advance;
    if (__builtin_mul_overflow(missed, period.count(), &advance)) {
      return time_point::max();
    }
    next = ioloop_internal::saturating_add(next, duration(advance));
  }
  return next;
}

void PeriodicCallback::schedule_next() {
  if (!running_) return;
  IOLoop* l = loop();
  if (l == nullptr) return;  // the loop is gone: nothing to schedule on
  next_timeout_ = next_deadline(next_timeout_, l->time(), period_);
  timeout_ = l->add_timeout(next_timeout_, [this] { run(); });
}

void PeriodicCallback::run() {
  timeout_ = IOLoop::Timeout();
  if (!running_) return;
  bool destroyed = false;
  destroyed_ = &destroyed;
  try {
    callback_();
  } catch (...) {
    if (!destroyed) {
      if (IOLoop* l = loop()) l->handle_callback_exception(std::current_exception());
    }
  }
  if (destroyed) return;  // the callback destroyed this object
  destroyed_ = nullptr;
  // A stop(); start(); inside the callback has scheduled already.
  if (!timeout_) schedule_next();
}

}  // namespace tornado
