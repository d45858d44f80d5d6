// -----------------------------------------------------------------------------
// locks.h
// -----------------------------------------------------------------------------
//
// Coordination primitives for coroutines (Tornado 4.5's `tornado.locks`):
// `Condition`, `Event`, `Semaphore`, `BoundedSemaphore` and `Lock`. They
// coordinate coroutines on one IOLoop; they are not thread locks.
//
//   tornado::locks::Lock lock;
//
//   tornado::Future<void> update(Cache& cache) {
//     auto guard = co_await lock.scoped();    // Tornado: with (yield lock.acquire()):
//     co_await cache.refresh();               // one coroutine at a time
//   }                                         // released here, also on an exception
//
// Common rules (every wait: Condition::wait, Event::wait,
// Semaphore::acquire/scoped, Lock::acquire/scoped):
//   - Waiters are served first come, first served (FIFO), as in Tornado.
//   - A wait that can proceed at once returns a done future; otherwise
//     `notify`, `set` and `release` (and a Guard's destruction) complete
//     the woken waiters' futures before they return (inline, running
//     their callbacks), the unit already taken for them. A coroutine
//     awaiting such a future resumes from the loop, as always.
//   - Each call returns its own future.
//   - Timeouts: each wait takes an optional timeout, a duration (any
//     std::chrono::duration, floating-point ones included) or a
//     steady_clock time point. When it passes, the wait fails with
//     tornado::TimeoutError ("Timeout"), except `Condition::wait`, which
//     gives false. A zero or past timeout fails on the next loop iteration
//     unless the wait could proceed at once; durations saturate (a huge
//     one means never, and costs no timer); a NaN one throws
//     std::invalid_argument. The timer runs on `IOLoop::current()` as of
//     the call.
//   - Cancellation: `Future::cancel()` on a pending wait withdraws the
//     waiter at once (it completes with CancelledError and is never woken
//     later; the next notify/release goes to the next waiter). A timed-out
//     waiter is withdrawn the same way, at once, in O(1).
//   - Nothing is lost to a cancellation: a coroutine cancelled after its
//     wait was granted but before it resumed gets CancelledError (asyncio's
//     rule) and the grant goes back: a Lock's or Semaphore's unit goes to
//     the next waiter (or back to the counter), a Condition's notification
//     to the next waiter.
//   - Destroying a primitive while waits are pending leaves those futures
//     pending forever (nobody can set or release it any more; Tornado
//     behaves the same); their coroutines' frames go when the loop closes.
//     Futures and Guards may outlive the primitive: nothing dangles.
//
// Cost: a wait that must wait allocates its future and nothing else (its
// waiter node lives in a slab inside the primitive, reused); a wait that
// proceeds at once allocates its (done) future. A timeout adds a loop
// timer.
//
// Thread-safety: thread-compatible, and bound to one IOLoop: a primitive
// and its futures are used on the thread of the loop its coroutines run
// on. From another thread, go through `IOLoop::add_callback`.

#ifndef TORNADO_LOCKS_LOCKS_H_
#define TORNADO_LOCKS_LOCKS_H_

#include <chrono>
#include <cstddef>
#include <stdexcept>

#include "tornado/future/future.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/ioloop/timeout_error.h"
#include "tornado/locks/internal/waiters.h"

namespace tornado::locks {

class Semaphore;

namespace internal_cores {
class ConditionCore;
class EventCore;
class SemaphoreCore;
}  // namespace internal_cores

// Guard
//
// Holds one unit of a Lock or Semaphore, from `co_await x.scoped()`;
// destroying it releases the unit (also when an exception unwinds the
// scope). Move-only; a moved-from Guard releases nothing. May outlive its
// Lock or Semaphore (releasing then does nothing). Thread-compatible, on
// the primitive's loop thread.
class Guard {
 public:
  Guard(Guard&& other) noexcept : core_(other.core_) { other.core_ = nullptr; }
  Guard& operator=(Guard&& other) noexcept;
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
  ~Guard() { reset(); }

  // True until the unit is released (by destruction, release(), or a move).
  explicit operator bool() const { return core_ != nullptr; }

  // Releases the unit now (the destructor then does nothing). A
  // BoundedSemaphore or Lock released past its bound by other calls:
  // std::logic_error (the destructor logs that instead of throwing).
  void release();

 private:
  friend class internal_cores::SemaphoreCore;
  explicit Guard(internal_cores::SemaphoreCore* core) noexcept;
  void reset() noexcept;

  internal_cores::SemaphoreCore* core_ = nullptr;
};

// Condition
//
// A condition allows one or more coroutines to wait until notified
// (Tornado's `Condition`). Unlike threading.Condition, it has no lock.
//
//   Future<bool> waiter(Condition& c) {
//     co_await c.wait();           // true: notified
//   }
//   c.notify();                    // wakes the first waiter
//
// See the file comment for ordering, timeouts, cancellation and
// thread-safety. A waiter cancelled after it was notified but before its
// coroutine resumed passes the notification on to the next waiter.
class Condition {
 public:
  Condition();
  ~Condition();
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  // Condition::wait()
  //
  // A future that becomes true when notified, or false once the timeout
  // passes.
  Future<bool> wait() { return wait_until(locks_internal::kNever); }
  template <class Rep, class Period>
  Future<bool> wait(std::chrono::duration<Rep, Period> timeout) {
    return wait_until(locks_internal::to_deadline(timeout));
  }
  template <class Dur>
  Future<bool> wait(std::chrono::time_point<std::chrono::steady_clock, Dur> deadline) {
    return wait_until(locks_internal::to_deadline(deadline));
  }

  // Condition::notify() / notify_all()
  //
  // Wakes `n` waiters (all of them), first come first served; only those
  // waiting when the call began (a waiter added by a woken waiter's
  // callback waits for the next notify).
  void notify(int n = 1);
  void notify_all();

  // Pending waiters (for tests and diagnostics; Tornado's repr).
  size_t waiting() const;

 private:
  Future<bool> wait_until(locks_internal::Deadline deadline);
  internal_cores::ConditionCore* core_;
};

// Event
//
// An event blocks coroutines until its internal flag is set (Tornado's
// `Event`, like threading.Event).
//
//   co_await event.wait();     // returns once event.set() was called
//
// See the file comment.
class Event {
 public:
  Event();
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Event::is_set() / set() / clear()
  //
  // `set()` sets the flag and completes every pending wait (those present
  // when it was called); `clear()` resets the flag, so that later waits
  // wait again.
  bool is_set() const;
  void set();
  void clear();

  // Event::wait()
  //
  // A future done once the flag is set (at once if it is), or failing
  // with TimeoutError once the timeout passes.
  Future<void> wait() { return wait_until(locks_internal::kNever); }
  template <class Rep, class Period>
  Future<void> wait(std::chrono::duration<Rep, Period> timeout) {
    return wait_until(locks_internal::to_deadline(timeout));
  }
  template <class Dur>
  Future<void> wait(std::chrono::time_point<std::chrono::steady_clock, Dur> deadline) {
    return wait_until(locks_internal::to_deadline(deadline));
  }

  // Pending waiters (for tests and diagnostics).
  size_t waiting() const;

 private:
  Future<void> wait_until(locks_internal::Deadline deadline);
  internal_cores::EventCore* core_;
};

// Semaphore
//
// A counter: `acquire()` takes a unit, waiting while there is none;
// `release()` gives one back, to the first waiter if any (Tornado's
// `Semaphore`). `release()` without a matching `acquire()` is allowed and
// raises the count.
//
//   Semaphore sem(3);                        // three at a time
//   Future<void> fetch(Url u) {
//     auto guard = co_await sem.scoped();    // or acquire() ... release()
//     co_await download(u);
//   }
//
// See the file comment for ordering, timeouts, cancellation (a unit
// granted to a coroutine cancelled before it resumed goes to the next
// waiter) and thread-safety.
class Semaphore {
 public:
  // Throws std::invalid_argument if `value` is negative.
  explicit Semaphore(int value = 1);
  virtual ~Semaphore();
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  using Guard = ::tornado::locks::Guard;

  // Semaphore::acquire()
  //
  // A future done once a unit is taken for the caller (at once if one is
  // free), or failing with TimeoutError. The caller then owns the unit and
  // must release() it.
  Future<void> acquire() { return acquire_until(locks_internal::kNever); }
  template <class Rep, class Period>
  Future<void> acquire(std::chrono::duration<Rep, Period> timeout) {
    return acquire_until(locks_internal::to_deadline(timeout));
  }
  template <class Dur>
  Future<void> acquire(std::chrono::time_point<std::chrono::steady_clock, Dur> deadline) {
    return acquire_until(locks_internal::to_deadline(deadline));
  }

  // Semaphore::scoped()
  //
  // acquire(), giving a Guard that releases the unit when destroyed:
  // `auto guard = co_await sem.scoped();` (Tornado's
  // `with (yield sem.acquire()):`). The same waiter as acquire(): FIFO
  // with it, same timeout and cancellation.
  Future<Guard> scoped() { return scoped_until(locks_internal::kNever); }
  template <class Rep, class Period>
  Future<Guard> scoped(std::chrono::duration<Rep, Period> timeout) {
    return scoped_until(locks_internal::to_deadline(timeout));
  }
  template <class Dur>
  Future<Guard> scoped(std::chrono::time_point<std::chrono::steady_clock, Dur> deadline) {
    return scoped_until(locks_internal::to_deadline(deadline));
  }

  // Semaphore::release()
  //
  // Gives a unit back: to the first waiter (its future completes now), or
  // to the counter. BoundedSemaphore: std::logic_error past the initial
  // value.
  void release();

  // The free units (0 while anyone waits), and the pending waiters.
  int value() const;
  size_t waiting() const;

 protected:
  Semaphore(int value, bool bounded, const char* release_error);

 private:
  friend class Lock;
  Future<void> acquire_until(locks_internal::Deadline deadline);
  Future<Guard> scoped_until(locks_internal::Deadline deadline);
  internal_cores::SemaphoreCore* core_;
};

// BoundedSemaphore
//
// A Semaphore that prevents release() being called too many times: past
// the initial value, release() throws std::logic_error (Tornado's
// ValueError).
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(int value = 1);
};

// Lock
//
// A lock for coroutines (Tornado's `Lock`): acquire() waits while it is
// held; release() hands it to the first waiter. Not reentrant: a
// coroutine that acquires it twice waits for itself.
//
//   auto guard = co_await lock.scoped();   // Tornado: with (yield lock.acquire()):
//
// See the file comment for ordering, timeouts, cancellation (a lock
// granted to a coroutine cancelled before it resumed goes to the next
// waiter, or is released) and thread-safety.
class Lock {
 public:
  Lock();
  ~Lock();
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  using Guard = ::tornado::locks::Guard;

  // Lock::acquire()
  //
  // A future done once the lock is the caller's (at once if it is free),
  // or failing with TimeoutError. The caller must then release() it.
  Future<void> acquire() { return sem_.acquire(); }
  template <class Rep, class Period>
  Future<void> acquire(std::chrono::duration<Rep, Period> timeout) {
    return sem_.acquire(timeout);
  }
  template <class Dur>
  Future<void> acquire(std::chrono::time_point<std::chrono::steady_clock, Dur> deadline) {
    return sem_.acquire(deadline);
  }

  // Lock::scoped()
  //
  // acquire(), giving a Guard that releases the lock when destroyed.
  Future<Guard> scoped() { return sem_.scoped(); }
  template <class Rep, class Period>
  Future<Guard> scoped(std::chrono::duration<Rep, Period> timeout) {
    return sem_.scoped(timeout);
  }
  template <class Dur>
  Future<Guard> scoped(std::chrono::time_point<std::chrono::steady_clock, Dur> deadline) {
    return sem_.scoped(deadline);
  }

  // Lock::release()
  //
  // Unlocks, handing the lock to the first waiter if any. Throws
  // std::logic_error if the lock is not held.
  void release() { sem_.release(); }

  // True while held (asyncio's locked()); pending waiters.
  bool locked() const { return sem_.value() == 0; }
  size_t waiting() const { return sem_.waiting(); }

 private:
  Semaphore sem_;
};

}  // namespace tornado::locks

#endif  // TORNADO_LOCKS_LOCKS_H_
