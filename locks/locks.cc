#include "tornado/locks/locks.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

#include "tornado/logging/logging.h"

namespace tornado {

namespace locks_internal {

std::exception_ptr make_timeout_error() {
  return std::make_exception_ptr(TimeoutError("Timeout"));
}

}  // namespace locks_internal

namespace locks {

namespace internal_cores {

using future_internal::Access;
using locks_internal::Deadline;
using locks_internal::RefCount;
using locks_internal::WaitCore;
using locks_internal::WaiterList;
using locks_internal::drop_all;
using locks_internal::withdraw;

namespace {

void log_noexcept_failure(const char* where) noexcept {
  logging::error(std::string(where) + ": " + logging::describe(std::current_exception()));
}

}  // namespace

// ---- Condition --------------------------------------------------------------------

class ConditionCore final : public WaitCore {
 public:
  Future<bool> wait(Deadline deadline) {
    Future<bool> f;
    locks_internal::enqueue(this, waiters_, f, 0, deadline);
    return f;
  }

  void notify(int n) {
    Pin pin(this);
    // Only the waiters present now: Tornado takes them off its deque
    // before completing any.
    const uint64_t limit = waiters_.next_seq();
    for (int i = 0; i < n && !waiters_.empty(); ++i) {
      const uint32_t slot = waiters_.front();
      if (waiters_[slot].seq >= limit) break;
      auto t = waiters_.take(slot);
      // The hook stays on the granted future: result_dropped passes the
      // notification on.
      locks_internal::adopt<bool>(t.state, t.free).set_result(true);
    }
  }

  void detach() {
    Pin pin(this);
    mark_detached();
    drop_all(waiters_);
    unref();
  }

  size_t waiting() const { return waiters_.size(); }

  bool cancel_requested(RefCount* state, uintptr_t arg) noexcept override {
    return withdraw(*this, waiters_, state, arg);
  }

  // Notified, then cancelled before resuming: the next waiter gets the
  // notification (asyncio's Condition does the same since 3.13).
  void result_dropped(RefCount* state, uintptr_t) noexcept override {
    if (!alive()) return;
    try {
      if (Access::take_value<bool>(state)) notify(1);
    } catch (...) {
      log_noexcept_failure("Condition: passing on a dropped notification");
    }
  }

  void on_timeout(uintptr_t arg) noexcept override {
    auto* n = waiters_.find(locks_internal::slot_of(arg), locks_internal::generation_of(arg));
    if (n == nullptr) return;
    Pin pin(this);
    auto t = waiters_.take(locks_internal::slot_of(arg));
    Future<bool> f = locks_internal::adopt<bool>(t.state, t.free);
    Access::clear_cancel_hook(f);  // false: nothing to give back
    f.set_result(false);
  }
  void on_timer_dropped(uintptr_t arg) noexcept override {
    locks_internal::forget_timer(waiters_, arg);
  }

 private:
  WaiterList<> waiters_;
};

// ---- Event ----------------------------------------------------------------------

class EventCore final : public WaitCore {
 public:
  bool is_set() const { return flag_; }

  void set() {
    if (flag_) return;
    flag_ = true;
    Pin pin(this);
    // Every waiter present now (they shared one future in Tornado), even
    // if a callback clears the flag meanwhile; later waiters wait.
    const uint64_t limit = waiters_.next_seq();
    while (!waiters_.empty() && waiters_[waiters_.front()].seq < limit) {
      auto t = waiters_.take(waiters_.front());
      Future<void> f = locks_internal::adopt<void>(t.state, t.free);
      Access::clear_cancel_hook(f);  // nothing to give back
      f.set_result();
    }
  }
  void clear() { flag_ = false; }

  Future<void> wait(Deadline deadline) {
    if (flag_) return make_ready_future();
    Future<void> f;
    locks_internal::enqueue(this, waiters_, f, 0, deadline);
    return f;
  }

  void detach() {
    Pin pin(this);
    mark_detached();
    drop_all(waiters_);
    unref();
  }

  size_t waiting() const { return waiters_.size(); }

  bool cancel_requested(RefCount* state, uintptr_t arg) noexcept override {
    return withdraw(*this, waiters_, state, arg);
  }
  void on_timeout(uintptr_t arg) noexcept override {
    auto* n = waiters_.find(locks_internal::slot_of(arg), locks_internal::generation_of(arg));
    if (n == nullptr) return;
    Pin pin(this);
    auto t = waiters_.take(locks_internal::slot_of(arg));
    Future<void> f = locks_internal::adopt<void>(t.state, t.free);
    try {
      f.set_exception(locks_internal::make_timeout_error());
    } catch (...) {
      log_noexcept_failure("Event: timing out a waiter");
    }
  }
  void on_timer_dropped(uintptr_t arg) noexcept override {
    locks_internal::forget_timer(waiters_, arg);
  }

 private:
  bool flag_ = false;
  WaiterList<> waiters_;
};

// ---- Semaphore (and Lock) ---------------------------------------------------------

class SemaphoreCore final : public WaitCore {
 public:
  static constexpr uint8_t kAcquire = 0;  // Future<void>
  static constexpr uint8_t kScoped = 1;   // Future<Guard>

  SemaphoreCore(int value, bool bounded, const char* release_error)
      : value_(value), initial_(value), bounded_(bounded), release_error_(release_error) {}

  Future<void> acquire(Deadline deadline) {
    if (value_ > 0) {
      --value_;
      return make_ready_future();
    }
    Future<void> f;
    locks_internal::enqueue(this, waiters_, f, kAcquire, deadline);
    return f;
  }

  Future<Guard> scoped(Deadline deadline) {
    if (value_ > 0) {
      Future<Guard> f;
      f.set_result(Guard(this));
      --value_;  // after: Guard's construction cannot fail, the future's could
      return f;
    }
    Future<Guard> f;
    locks_internal::enqueue(this, waiters_, f, kScoped, deadline);
    return f;
  }

  void release() {
    if (bounded_ && value_ >= initial_) throw std::logic_error(release_error_);
    if (waiters_.empty()) {
      ++value_;
      return;
    }
    Pin pin(this);
    // The unit goes straight to the first waiter (the counter stays 0).
    auto t = waiters_.take(waiters_.front());
    // The hook stays on the granted future: result_dropped gives the unit
    // back if the coroutine is cancelled before it resumes.
    if (t.kind == kAcquire) {
      locks_internal::adopt<void>(t.state, t.free).set_result();
    } else {
      locks_internal::adopt<Guard>(t.state, t.free).set_result(Guard(this));
    }
  }

  // A Guard's release: never throws (it runs in destructors).
  void release_from_guard() noexcept {
    if (!alive()) return;
    try {
      release();
    } catch (...) {
      log_noexcept_failure("Guard: releasing its unit");
    }
  }

  void detach() {
    Pin pin(this);
    mark_detached();
    drop_all(waiters_);
    unref();
  }

  int value() const { return value_; }
  size_t waiting() const { return waiters_.size(); }

  bool cancel_requested(RefCount* state, uintptr_t arg) noexcept override {
    return withdraw(*this, waiters_, state, arg);
  }

  // Granted, then cancelled before resuming: the unit goes back (to the
  // next waiter, or the counter).
  void result_dropped(RefCount* state, uintptr_t arg) noexcept override {
    if (locks_internal::kind_of(arg) == kScoped) {
      // Destroying the Guard releases (a no-op once detached).
      Guard g = Access::take_value<Guard>(state);
      static_cast<void>(g);
      return;
    }
    release_from_guard();
  }

  void on_timeout(uintptr_t arg) noexcept override {
    auto* n = waiters_.find(locks_internal::slot_of(arg), locks_internal::generation_of(arg));
    if (n == nullptr) return;
    Pin pin(this);
    auto t = waiters_.take(locks_internal::slot_of(arg));
    try {
      if (t.kind == kAcquire) {
        locks_internal::adopt<void>(t.state, t.free)
            .set_exception(locks_internal::make_timeout_error());
      } else {
        locks_internal::adopt<Guard>(t.state, t.free)
            .set_exception(locks_internal::make_timeout_error());
      }
    } catch (...) {
      log_noexcept_failure("Semaphore: timing out a waiter");
    }
  }
  void on_timer_dropped(uintptr_t arg) noexcept override {
    locks_internal::forget_timer(waiters_, arg);
  }

 private:
  int value_;
  const int initial_;
  const bool bounded_;
  const char* release_error_;
  WaiterList<> waiters_;
};

}  // namespace internal_cores

// ---- Guard ------------------------------------------------------------------------

Guard::Guard(internal_cores::SemaphoreCore* core) noexcept : core_(core) { core_->ref(); }

Guard& Guard::operator=(Guard&& other) noexcept {
  if (this != &other) {
    reset();
    core_ = std::exchange(other.core_, nullptr);
  }
  return *this;
}

void Guard::release() {
  internal_cores::SemaphoreCore* c = std::exchange(core_, nullptr);
  if (c == nullptr) return;
  internal_cores::WaitCore::Pin pin(c);
  c->unref();  // the Guard's own reference; the pin keeps it for the call
  if (c->alive()) c->release();
}

void Guard::reset() noexcept {
  internal_cores::SemaphoreCore* c = std::exchange(core_, nullptr);
  if (c == nullptr) return;
  c->release_from_guard();
  c->unref();
}

// ---- Condition --------------------------------------------------------------------

Condition::Condition() : core_(new internal_cores::ConditionCore) {}
Condition::~Condition() { core_->detach(); }
Future<bool> Condition::wait_until(locks_internal::Deadline deadline) {
  return core_->wait(deadline);
}
void Condition::notify(int n) { core_->notify(n); }
void Condition::notify_all() {
  // Those waiting now; notify() stops at later arrivals.
  core_->notify(static_cast<int>(std::min<size_t>(core_->waiting(), INT32_MAX)));
}
size_t Condition::waiting() const { return core_->waiting(); }

// ---- Event ------------------------------------------------------------------------

Event::Event() : core_(new internal_cores::EventCore) {}
Event::~Event() { core_->detach(); }
bool Event::is_set() const { return core_->is_set(); }
void Event::set() { core_->set(); }
void Event::clear() { core_->clear(); }
Future<void> Event::wait_until(locks_internal::Deadline deadline) {
  return core_->wait(deadline);
}
size_t Event::waiting() const { return core_->waiting(); }

// ---- Semaphore, BoundedSemaphore, Lock ------------------------------------------------

namespace {
int checked_value(int value) {
  if (value < 0) throw std::invalid_argument("Semaphore: the initial value must be >= 0");
  return value;
}
}  // namespace

Semaphore::Semaphore(int value) : Semaphore(value, false, "") {}
Semaphore::Semaphore(int value, bool bounded, const char* release_error)
    : core_(new internal_cores::SemaphoreCore(checked_value(value), bounded, release_error)) {}
Semaphore::~Semaphore() { core_->detach(); }
Future<void> Semaphore::acquire_until(locks_internal::Deadline deadline) {
  return core_->acquire(deadline);
}
Future<Guard> Semaphore::scoped_until(locks_internal::Deadline deadline) {
  return core_->scoped(deadline);
}
void Semaphore::release() { core_->release(); }
int Semaphore::value() const { return core_->value(); }
size_t Semaphore::waiting() const { return core_->waiting(); }

BoundedSemaphore::BoundedSemaphore(int value)
    : Semaphore(value, true, "BoundedSemaphore::release: released too many times") {}

Lock::Lock() : sem_(1, true, "Lock::release: release unlocked lock") {}
Lock::~Lock() = default;

}  // namespace locks

}  // namespace tornado
