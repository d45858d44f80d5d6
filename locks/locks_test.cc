// //locks: Tornado 4.5.3's tornado/test/locks_test.py ported test by test
// (each test names the one it follows), then what Tornado does not test:
// cancellation, timeout races, lifetimes and allocation.
//
// Tornado tests that do not apply, and why:
//   - ConditionTest.test_repr, EventTest.test_repr, SemaphoreTest.test_repr,
//     LockTests.test_repr: there is no repr; what it shows (waiters, set or
//     clear, the value, locked) is read through waiting(), is_set(),
//     value() and locked() in the tests that follow the other tests.
//   - SemaphoreContextManagerTest.test_context_manager_async_await and
//     LockTests.test_acquire_fifo_async_with: the same tests as
//     test_context_manager and test_acquire_fifo in Python's other syntax;
//     C++ has one (`co_await x.scoped()`), tested there.
//   - SemaphoreContextManagerTest.test_yield_sem and LockTests.test_yield_lock
//     (`yield sem` instead of `yield sem.acquire()`): `co_await sem` does
//     not compile, with a message saying what to await; checked by
//     tools/check_compile_errors.sh (co_await_lock).
//   - SemaphoreContextManagerTest.test_context_manager_misuse and
//     LockTests.test_context_manager_misuse (`with sem:` without yield): a
//     Guard can only come from scoped() (its constructor is private), so the
//     misuse cannot be written.

#include "tornado/locks/locks.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"
#include "tornado/gen/gen.h"
#include "tornado/testing/alloc_counter.h"
#include "tornado/testing/async_test.h"

namespace tornado::locks {
namespace {

using namespace std::chrono_literals;
using History = std::vector<std::string>;

class LocksTest : public tornado::testing::AsyncTest {
 protected:
  // Tornado's record_done: "timeout" when wait() gave false, else `key`.
  void record_done(Future<bool> f, std::string key) {
    f.add_done_callback([this, key](Future<bool> d) {
      history_.push_back(d.result() ? key : "timeout");
    });
  }
  // Runs the loop for `n` iterations.
  void spin(int n = 1) {
    run([n]() -> Future<void> {
      for (int i = 0; i < n; ++i) co_await gen::moment;
    });
  }

  // Runs the loop until `f` is done; true if it failed with TimeoutError
  // (run() would take that for the test body's own timeout).
  template <class T>
  bool times_out(Future<T> f) {
    run_until_done(f);
    return testing::holds<TimeoutError>(testing::failure(f));
  }

  History history_;
};

// ---- ConditionTest -------------------------------------------------------------

// Follows ConditionTest.test_notify.
TEST_F(LocksTest, ConditionNotify) {
  Condition c;
  loop().call_later(10ms, [&] { c.notify(); });
  EXPECT_TRUE(run([&] { return c.wait(); }));
}

// Follows ConditionTest.test_notify_1.
TEST_F(LocksTest, ConditionNotify1) {
  Condition c;
  record_done(c.wait(), "wait1");
  record_done(c.wait(), "wait2");
  c.notify(1);
  history_.push_back("notify1");
  c.notify(1);
  history_.push_back("notify2");
  EXPECT_EQ(history_, (History{"wait1", "notify1", "wait2", "notify2"}));
}

// Follows ConditionTest.test_notify_n.
TEST_F(LocksTest, ConditionNotifyN) {
  Condition c;
  for (int i = 0; i < 6; ++i) record_done(c.wait(), std::to_string(i));
  c.notify(3);
  // Callbacks run in the order they were registered.
  EXPECT_EQ(history_, (History{"0", "1", "2"}));
  c.notify(1);
  EXPECT_EQ(history_, (History{"0", "1", "2", "3"}));
  c.notify(2);
  EXPECT_EQ(history_, (History{"0", "1", "2", "3", "4", "5"}));
}

// Follows ConditionTest.test_notify_all.
TEST_F(LocksTest, ConditionNotifyAll) {
  Condition c;
  for (int i = 0; i < 4; ++i) record_done(c.wait(), std::to_string(i));
  c.notify_all();
  history_.push_back("notify_all");
  EXPECT_EQ(history_, (History{"0", "1", "2", "3", "notify_all"}));
}

// Follows ConditionTest.test_wait_timeout.
TEST_F(LocksTest, ConditionWaitTimeout) {
  Condition c;
  Future<bool> wait = c.wait(10ms);
  loop().call_later(50ms, [&] { c.notify(); });  // too late
  run([] { return gen::sleep(30ms); });
  ASSERT_TRUE(wait.done());
  EXPECT_FALSE(wait.result());
  EXPECT_EQ(c.waiting(), 0u);
}

// Follows ConditionTest.test_wait_timeout_preempted.
TEST_F(LocksTest, ConditionWaitTimeoutPreempted) {
  Condition c;
  // This fires before the wait times out.
  loop().call_later(10ms, [&] { c.notify(); });
  Future<bool> wait = c.wait(500ms);
  run([] { return gen::sleep(30ms); });
  ASSERT_TRUE(wait.done());
  EXPECT_TRUE(wait.result());  // no timeout
}

// Follows ConditionTest.test_notify_n_with_timeout: a timed-out waiter does
// not count against notify's n.
TEST_F(LocksTest, ConditionNotifyNWithTimeout) {
  Condition c;
  record_done(c.wait(), "0");
  record_done(c.wait(10ms), "1");
  record_done(c.wait(), "2");
  record_done(c.wait(), "3");
  // Wait for waiter 1 to time out.
  run([] { return gen::sleep(30ms); });
  EXPECT_EQ(history_, (History{"timeout"}));
  c.notify(2);
  run([] { return gen::sleep(10ms); });
  EXPECT_EQ(history_, (History{"timeout", "0", "2"}));
  c.notify();
  EXPECT_EQ(history_, (History{"timeout", "0", "2", "3"}));
}

// Follows ConditionTest.test_notify_all_with_timeout.
TEST_F(LocksTest, ConditionNotifyAllWithTimeout) {
  Condition c;
  record_done(c.wait(), "0");
  record_done(c.wait(10ms), "1");
  record_done(c.wait(), "2");
  run([] { return gen::sleep(30ms); });
  EXPECT_EQ(history_, (History{"timeout"}));
  c.notify_all();
  EXPECT_EQ(history_, (History{"timeout", "0", "2"}));
}

// Follows ConditionTest.test_nested_notify: no notification is lost when a
// waiter's callback re-enters notify().
TEST_F(LocksTest, ConditionNestedNotify) {
  Condition c;
  std::vector<Future<bool>> futures;
  for (int i = 0; i < 3; ++i) futures.push_back(c.wait());
  // The second one's callback notifies the third.
  futures[1].add_done_callback([&](Future<bool>) { c.notify(); });
  c.notify(2);
  for (auto& f : futures) EXPECT_TRUE(f.done());
}

// Follows ConditionTest.test_garbage_collection. Tornado drops timed-out
// waiters from its deque now and then; here each goes at once, so the
// count is 1 as soon as they have timed out.
TEST_F(LocksTest, ConditionGarbageCollection) {
  Condition c;
  for (int i = 0; i < 101; ++i) static_cast<void>(c.wait(10ms));
  Future<bool> future = c.wait();
  EXPECT_EQ(c.waiting(), 102u);
  run([] { return gen::sleep(30ms); });
  EXPECT_EQ(c.waiting(), 1u);
  // The final waiter is still active.
  EXPECT_FALSE(future.done());
  c.notify();
  EXPECT_TRUE(future.done());
}

// notify_all wakes only those waiting when it was called (Tornado's
// notify(len(waiters)) takes them off the deque first).
TEST_F(LocksTest, ConditionNotifyAllLeavesWaitersAddedByCallbacks) {
  Condition c;
  std::optional<Future<bool>> later;
  Future<bool> first = c.wait();
  first.add_done_callback([&](Future<bool>) { later = c.wait(); });
  Future<bool> second = c.wait();
  c.notify_all();
  EXPECT_TRUE(first.done());
  EXPECT_TRUE(second.done());
  ASSERT_TRUE(later.has_value());
  EXPECT_FALSE(later->done());
  EXPECT_EQ(c.waiting(), 1u);
}

// ---- EventTest -----------------------------------------------------------------

// Follows EventTest.test_event (and, for is_set, test_repr).
TEST_F(LocksTest, Event) {
  Event e;
  EXPECT_FALSE(e.is_set());
  Future<void> future_0 = e.wait();
  e.set();
  EXPECT_TRUE(e.is_set());
  Future<void> future_1 = e.wait();
  e.clear();
  EXPECT_FALSE(e.is_set());
  Future<void> future_2 = e.wait();
  EXPECT_TRUE(future_0.done());
  EXPECT_TRUE(future_1.done());
  EXPECT_FALSE(future_2.done());
}

// Follows EventTest.test_event_timeout.
TEST_F(LocksTest, EventTimeout) {
  Event e;
  EXPECT_TRUE(times_out(e.wait(10ms)));
  // After a timed-out waiter, normal operation works.
  loop().add_timeout(10ms, [&] { e.set(); });
  run([&] { return e.wait(1s); });
  EXPECT_EQ(e.waiting(), 0u);
}

// Follows EventTest.test_event_set_multiple.
TEST_F(LocksTest, EventSetMultiple) {
  Event e;
  e.set();
  e.set();
  EXPECT_TRUE(e.is_set());
}

// Follows EventTest.test_event_wait_clear.
TEST_F(LocksTest, EventWaitClear) {
  Event e;
  Future<void> f0 = e.wait();
  e.clear();
  Future<void> f1 = e.wait();
  e.set();
  EXPECT_TRUE(f0.done());
  EXPECT_TRUE(f1.done());
}

// set() completes every waiter present when it was called, even if a
// callback clears the event meanwhile (they shared one future in Tornado);
// one added by that callback waits.
TEST_F(LocksTest, EventSetCompletesThoseWaitingEvenIfClearedMeanwhile) {
  Event e;
  std::optional<Future<void>> later;
  Future<void> a = e.wait();
  a.add_done_callback([&](Future<void>) {
    e.clear();
    later = e.wait();
  });
  Future<void> b = e.wait();
  e.set();
  EXPECT_TRUE(a.done());
  EXPECT_TRUE(b.done());
  ASSERT_TRUE(later.has_value());
  EXPECT_FALSE(later->done());
}

// ---- SemaphoreTest ---------------------------------------------------------------

// Follows SemaphoreTest.test_negative_value.
TEST_F(LocksTest, SemaphoreNegativeValue) {
  EXPECT_THROW(Semaphore(-1), std::invalid_argument);
  EXPECT_THROW(BoundedSemaphore(-1), std::invalid_argument);
}

// Follows SemaphoreTest.test_acquire (and, for the value, test_repr).
TEST_F(LocksTest, SemaphoreAcquire) {
  Semaphore sem;
  EXPECT_EQ(sem.value(), 1);
  Future<void> f0 = sem.acquire();
  EXPECT_TRUE(f0.done());
  EXPECT_EQ(sem.value(), 0);
  // Wait for release().
  Future<void> f1 = sem.acquire();
  EXPECT_FALSE(f1.done());
  Future<void> f2 = sem.acquire();
  EXPECT_EQ(sem.waiting(), 2u);
  sem.release();
  EXPECT_TRUE(f1.done());
  EXPECT_FALSE(f2.done());
  sem.release();
  EXPECT_TRUE(f2.done());
  sem.release();
  // Now acquire() is instant.
  EXPECT_TRUE(sem.acquire().done());
  EXPECT_EQ(sem.waiting(), 0u);
}

// Follows SemaphoreTest.test_acquire_timeout.
TEST_F(LocksTest, SemaphoreAcquireTimeout) {
  Semaphore sem(2);
  Future<void> acquire;
  run([&]() -> Future<void> {
    co_await sem.acquire();
    co_await sem.acquire();
    acquire = sem.acquire(10ms);
    loop().call_later(60ms, [&] { sem.release(); });  // too late
    co_await gen::sleep(100ms);
  });
  ASSERT_TRUE(acquire.done());
  EXPECT_THROW(acquire.result(), TimeoutError);
  // The late release() raised the value to 1.
  EXPECT_TRUE(sem.acquire().done());
  Future<void> f = sem.acquire();
  EXPECT_FALSE(f.done());
  sem.release();
  EXPECT_TRUE(f.done());
}

// Follows SemaphoreTest.test_acquire_timeout_preempted.
TEST_F(LocksTest, SemaphoreAcquireTimeoutPreempted) {
  Semaphore sem(1);
  run([&]() -> Future<void> {
    co_await sem.acquire();
    // This fires before the wait times out.
    loop().call_later(10ms, [&] { sem.release(); });
    Future<void> acquire = sem.acquire(500ms);
    co_await gen::sleep(30ms);
    co_await acquire;  // no TimeoutError
  });
}

// Follows SemaphoreTest.test_release_unacquired: unbounded releases raise
// the value.
TEST_F(LocksTest, SemaphoreReleaseUnacquired) {
  Semaphore sem;
  sem.release();
  sem.release();
  // Now the counter is 3: three acquires before blocking.
  EXPECT_TRUE(sem.acquire().done());
  EXPECT_TRUE(sem.acquire().done());
  EXPECT_TRUE(sem.acquire().done());
  EXPECT_FALSE(sem.acquire().done());
}

// Follows SemaphoreTest.test_garbage_collection.
TEST_F(LocksTest, SemaphoreGarbageCollection) {
  Semaphore sem(0);
  std::vector<Future<void>> futures;
  for (int i = 0; i < 101; ++i) futures.push_back(sem.acquire(10ms));
  Future<void> future = sem.acquire();
  EXPECT_EQ(sem.waiting(), 102u);
  run([] { return gen::sleep(30ms); });
  EXPECT_EQ(sem.waiting(), 1u);
  // The final waiter is still active.
  EXPECT_FALSE(future.done());
  sem.release();
  EXPECT_TRUE(future.done());
  for (auto& f : futures) EXPECT_THROW(f.result(), TimeoutError);
}

// ---- SemaphoreContextManagerTest ------------------------------------------------

// Follows SemaphoreContextManagerTest.test_context_manager.
TEST_F(LocksTest, SemaphoreScoped) {
  Semaphore sem;
  run([&]() -> Future<void> {
    auto guard = co_await sem.scoped();
    EXPECT_TRUE(static_cast<bool>(guard));
    EXPECT_EQ(sem.value(), 0);
  });
  // Released: acquire() is instant again.
  EXPECT_TRUE(sem.acquire().done());
}

// Follows SemaphoreContextManagerTest.test_context_manager_exception.
TEST_F(LocksTest, SemaphoreScopedException) {
  Semaphore sem;
  EXPECT_THROW(run([&]() -> Future<void> {
                 auto guard = co_await sem.scoped();
                 throw std::domain_error("1 / 0");
               }),
               std::domain_error);
  EXPECT_TRUE(sem.acquire().done());
}

// Follows SemaphoreContextManagerTest.test_context_manager_timeout.
TEST_F(LocksTest, SemaphoreScopedTimeout) {
  Semaphore sem;
  run([&]() -> Future<void> {
    auto guard = co_await sem.scoped(10ms);
  });
  EXPECT_TRUE(sem.acquire().done());
}

// Follows SemaphoreContextManagerTest.test_context_manager_timeout_error.
TEST_F(LocksTest, SemaphoreScopedTimeoutError) {
  Semaphore sem(0);
  run([&]() -> Future<void> {
    bool timed_out = false;
    try {
      auto guard = co_await sem.scoped(10ms);
    } catch (const TimeoutError&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
  });
  // The counter is still 0.
  EXPECT_FALSE(sem.acquire().done());
}

// Follows SemaphoreContextManagerTest.test_context_manager_contended.
TEST_F(LocksTest, SemaphoreScopedContended) {
  Semaphore sem;
  History history;
  auto f = [&](int index) -> Future<void> {
    auto guard = co_await sem.scoped();
    history.push_back("acquired " + std::to_string(index));
    co_await gen::sleep(10ms);
    history.push_back("release " + std::to_string(index));
  };
  run([&]() -> Future<void> {
    std::vector<Future<void>> fs;
    for (int i = 0; i < 2; ++i) fs.push_back(f(i));
    co_await gen::multi(fs);
  });
  EXPECT_EQ(history, (History{"acquired 0", "release 0", "acquired 1", "release 1"}));
}

// ---- BoundedSemaphoreTest ------------------------------------------------------

// Follows BoundedSemaphoreTest.test_release_unacquired.
TEST_F(LocksTest, BoundedSemaphoreReleaseUnacquired) {
  BoundedSemaphore sem;
  EXPECT_THROW(sem.release(), std::logic_error);
  // Value is 0.
  EXPECT_TRUE(sem.acquire().done());
  // Block on acquire().
  Future<void> future = sem.acquire();
  EXPECT_FALSE(future.done());
  sem.release();
  EXPECT_TRUE(future.done());
  // Value is 1.
  sem.release();
  EXPECT_THROW(sem.release(), std::logic_error);
}

// ---- LockTests -------------------------------------------------------------------

// Follows LockTests.test_acquire_release (and, for locked(), test_repr).
TEST_F(LocksTest, LockAcquireRelease) {
  Lock lock;
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(lock.acquire().done());
  EXPECT_TRUE(lock.locked());
  Future<void> future = lock.acquire();
  EXPECT_FALSE(future.done());
  lock.release();
  EXPECT_TRUE(future.done());
  EXPECT_TRUE(lock.locked());
}

// Follows LockTests.test_acquire_fifo.
TEST_F(LocksTest, LockAcquireFifo) {
  Lock lock;
  EXPECT_TRUE(lock.acquire().done());
  constexpr int N = 5;
  std::vector<int> history;
  auto f = [&](int idx) -> Future<void> {
    auto guard = co_await lock.scoped();
    history.push_back(idx);
  };
  std::vector<Future<void>> futures;
  for (int i = 0; i < N; ++i) futures.push_back(f(i));
  for (auto& fu : futures) EXPECT_FALSE(fu.done());
  lock.release();
  run([&] { return gen::multi(futures); });
  EXPECT_EQ(history, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_FALSE(lock.locked());
}

// Follows LockTests.test_acquire_timeout.
TEST_F(LocksTest, LockAcquireTimeout) {
  Lock lock;
  EXPECT_TRUE(lock.acquire().done());
  EXPECT_TRUE(times_out(lock.acquire(10ms)));
  // Still locked.
  EXPECT_FALSE(lock.acquire().done());
}

// Follows LockTests.test_multi_release.
TEST_F(LocksTest, LockMultiRelease) {
  Lock lock;
  EXPECT_THROW(lock.release(), std::logic_error);
  EXPECT_TRUE(lock.acquire().done());
  lock.release();
  EXPECT_THROW(lock.release(), std::logic_error);
}

// ---- Guard -----------------------------------------------------------------------

static_assert(!std::is_copy_constructible_v<Guard>);
static_assert(!std::is_copy_assignable_v<Guard>);
static_assert(std::is_nothrow_move_constructible_v<Guard>);
static_assert(std::is_nothrow_move_assignable_v<Guard>);
static_assert(!std::is_default_constructible_v<Guard>);

TEST_F(LocksTest, GuardMovesOwnershipAndReleasesOnce) {
  Lock lock;
  Future<Guard> f = lock.scoped();
  ASSERT_TRUE(f.done());
  Guard a = f.take_result();
  EXPECT_TRUE(lock.locked());
  Guard b = std::move(a);
  EXPECT_FALSE(static_cast<bool>(a));  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(static_cast<bool>(b));
  Future<void> waiter = lock.acquire();
  b.release();  // early release hands the lock on
  EXPECT_TRUE(waiter.done());
  EXPECT_FALSE(static_cast<bool>(b));
  lock.release();
  EXPECT_FALSE(lock.locked());
}

TEST_F(LocksTest, GuardMoveAssignmentReleasesTheOverwrittenUnit) {
  Semaphore sem(2);
  Guard a = sem.scoped().take_result();
  Guard b = sem.scoped().take_result();
  EXPECT_EQ(sem.value(), 0);
  a = std::move(b);  // a's unit released
  EXPECT_EQ(sem.value(), 1);
  { Guard gone = std::move(a); }
  EXPECT_EQ(sem.value(), 2);
}

// A granted scoped() future that nobody takes the Guard from releases the
// unit when the future goes.
TEST_F(LocksTest, UntakenGuardReleasesWhenItsFutureGoes) {
  Lock lock;
  { Future<Guard> f = lock.scoped(); }
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(lock.acquire().done());
  { Future<Guard> f = lock.scoped(); }  // a waiter, dropped: still served
  EXPECT_EQ(lock.waiting(), 1u);
  lock.release();  // to the dropped waiter, whose Guard goes at once
  EXPECT_FALSE(lock.locked());
}

// ---- Cancellation -------------------------------------------------------------------

// Cancelling a waiter withdraws it at once: the next release goes to the
// next waiter; each call has its own future.
TEST_F(LocksTest, CancelledWaiterIsSkipped) {
  Lock lock;
  EXPECT_TRUE(lock.acquire().done());
  Future<void> a = lock.acquire();
  Future<void> b = lock.acquire();
  Future<void> c = lock.acquire();
  EXPECT_TRUE(a.cancel());
  EXPECT_TRUE(a.cancelled());
  EXPECT_FALSE(b.done());  // cancelling one leaves the others untouched
  EXPECT_FALSE(c.done());
  EXPECT_EQ(lock.waiting(), 2u);
  lock.release();
  EXPECT_TRUE(b.done());
  EXPECT_FALSE(b.cancelled());
  EXPECT_FALSE(c.done());
  EXPECT_FALSE(a.cancel());  // done: nothing changes
  lock.release();
  EXPECT_TRUE(c.done());
}

TEST_F(LocksTest, CancelledConditionWaiterDoesNotCountAgainstNotify) {
  Condition c;
  Future<bool> a = c.wait();
  Future<bool> b = c.wait();
  a.cancel();
  c.notify(1);
  EXPECT_TRUE(a.cancelled());
  ASSERT_TRUE(b.done());
  EXPECT_TRUE(b.result());
}

TEST_F(LocksTest, CancelledEventAndSemaphoreWaitersAreWithdrawn) {
  Event e;
  Future<void> ew = e.wait(1s);
  const size_t timers = loop().pending_timeouts();
  ew.cancel();
  EXPECT_EQ(e.waiting(), 0u);
  EXPECT_EQ(loop().pending_timeouts(), timers - 1);  // its timer went at once
  Semaphore sem(0);
  Future<Guard> s1 = sem.scoped();
  Future<void> s2 = sem.acquire();
  s1.cancel();
  sem.release();
  EXPECT_TRUE(s1.cancelled());
  EXPECT_TRUE(s2.done());
  EXPECT_EQ(sem.value(), 0);
}

// A coroutine waiting on the lock, cancelled: its co_await throws
// CancelledError, and the lock goes to the next waiter.
TEST_F(LocksTest, CancelledCoroutineWaiterIsSkipped) {
  Lock lock;
  History history;
  auto worker = [&](std::string name) -> Future<void> {
    try {
      auto guard = co_await lock.scoped();
      history.push_back(name);
    } catch (const CancelledError&) {
      history.push_back(name + " cancelled");
      throw;
    }
  };
  run([&]() -> Future<void> {
    co_await lock.acquire();
    Future<void> a = worker("a");
    Future<void> b = worker("b");
    a.cancel();
    lock.release();
    co_await b;
    while (!a.done()) co_await gen::moment;
    EXPECT_TRUE(a.cancelled());
  });
  EXPECT_EQ(history, (History{"a cancelled", "b"}));
  EXPECT_FALSE(lock.locked());
}

// Granted, then cancelled before resuming: the coroutine gets
// CancelledError (asyncio's rule) and the lock goes to the next waiter.
TEST_F(LocksTest, CancelAfterGrantBeforeResumeGivesTheLockToTheNext) {
  for (bool scoped : {false, true}) {
    SCOPED_TRACE(scoped ? "scoped" : "acquire");
    Lock lock;
    bool a_ran = false;
    auto a = [&]() -> Future<void> {
      if (scoped) {
        auto guard = co_await lock.scoped();
        a_ran = true;
      } else {
        co_await lock.acquire();
        a_ran = true;
        lock.release();
      }
    };
    run([&]() -> Future<void> {
      co_await lock.acquire();
      Future<void> fa = a();
      Future<void> b = lock.acquire();
      lock.release();  // granted to a: its future is done, a not resumed yet
      EXPECT_TRUE(lock.locked());
      EXPECT_FALSE(b.done());
      EXPECT_TRUE(fa.cancel());
      while (!fa.done()) co_await gen::moment;
      EXPECT_TRUE(fa.cancelled());
      EXPECT_FALSE(a_ran);
      EXPECT_TRUE(b.done());  // the lock went on
      lock.release();
    });
    EXPECT_FALSE(lock.locked());
  }
}

TEST_F(LocksTest, CancelAfterGrantBeforeResumeFreesTheLockWithoutWaiters) {
  Lock lock;
  auto take_guard = [&]() -> Future<void> { auto guard = co_await lock.scoped(); };
  run([&]() -> Future<void> {
    co_await lock.acquire();
    Future<void> fa = take_guard();
    lock.release();
    fa.cancel();
    while (!fa.done()) co_await gen::moment;
    EXPECT_TRUE(fa.cancelled());
    EXPECT_FALSE(lock.locked());
    EXPECT_TRUE(lock.acquire().done());
  });
}

TEST_F(LocksTest, CancelAfterGrantBeforeResumeGivesTheUnitBackToTheSemaphore) {
  Semaphore sem(0);
  auto acquirer = [&]() -> Future<void> { co_await sem.acquire(); };
  run([&]() -> Future<void> {
    Future<void> fa = acquirer();
    sem.release();
    EXPECT_EQ(sem.value(), 0);
    fa.cancel();
    while (!fa.done()) co_await gen::moment;
    EXPECT_TRUE(fa.cancelled());
    EXPECT_EQ(sem.value(), 1);
  });
}

TEST_F(LocksTest, CancelAfterNotifyBeforeResumePassesTheNotificationOn) {
  Condition c;
  auto waiter = [&]() -> Future<void> { co_await c.wait(); };
  run([&]() -> Future<void> {
    Future<void> fa = waiter();
    Future<bool> b = c.wait();
    c.notify();
    EXPECT_FALSE(b.done());
    fa.cancel();
    while (!fa.done()) co_await gen::moment;
    EXPECT_TRUE(fa.cancelled());
    EXPECT_TRUE(b.done());
    EXPECT_TRUE(b.result());
  });
}

// A waiter cancelled by gen::with_timeout's caller, by a timeout racing a
// release in the same iteration: whichever comes first wins, nothing is
// granted twice.
TEST_F(LocksTest, TimeoutAndReleaseInTheSameIteration) {
  Lock lock;
  EXPECT_TRUE(lock.acquire().done());
  Future<void> a = lock.acquire(0s);
  Future<void> b = lock.acquire();
  loop().add_callback([&] { lock.release(); });  // runs before timeouts
  spin(2);
  EXPECT_TRUE(a.done());
  EXPECT_FALSE(a.exception());  // the release came first
  EXPECT_FALSE(b.done());
  lock.release();
  EXPECT_TRUE(b.done());
}

// gen::wait_for on a wait: on timeout the waiter is cancelled (withdrawn
// at once) and the caller gets TimeoutError; the lock goes to the next.
TEST_F(LocksTest, WaitForCancelsTheWaiterOnTimeout) {
  Lock lock;
  EXPECT_TRUE(lock.acquire().done());
  Future<void> timed = gen::wait_for(10ms, lock.acquire());
  Future<void> next = lock.acquire();
  EXPECT_TRUE(times_out(timed));
  EXPECT_EQ(lock.waiting(), 1u);
  lock.release();
  EXPECT_TRUE(next.done());
}

// ---- Timeouts ----------------------------------------------------------------------

// A zero or past timeout fails on the next iteration unless the wait can
// proceed at once.
TEST_F(LocksTest, ZeroAndPastTimeouts) {
  Lock lock;
  EXPECT_TRUE(lock.acquire(0s).done());  // free: at once
  Future<void> zero = lock.acquire(0s);
  Future<void> past = lock.acquire(std::chrono::steady_clock::now() - 1h);
  Future<void> min = lock.acquire(std::chrono::steady_clock::time_point::min());
  Condition condition;
  Future<bool> cond = condition.wait(0ms);
  EXPECT_FALSE(zero.done());
  EXPECT_FALSE(past.done());
  EXPECT_FALSE(min.done());
  EXPECT_FALSE(cond.done());
  spin(1);
  EXPECT_THROW(zero.result(), TimeoutError);
  EXPECT_THROW(past.result(), TimeoutError);
  EXPECT_THROW(min.result(), TimeoutError);
  EXPECT_FALSE(cond.result());
  EXPECT_EQ(lock.waiting(), 0u);
  EXPECT_TRUE(lock.locked());
}

TEST_F(LocksTest, HugeTimeoutsMeanNeverAndSetNoTimer) {
  Lock lock;
  EXPECT_TRUE(lock.acquire().done());
  const size_t timers = loop().pending_timeouts();
  Future<void> a = lock.acquire(std::chrono::hours::max());
  Future<void> b = lock.acquire(std::chrono::duration<double>(1e300));
  Future<void> c = lock.acquire(std::chrono::steady_clock::time_point::max());
  EXPECT_EQ(loop().pending_timeouts(), timers);
  spin(1);
  EXPECT_FALSE(a.done());
  lock.release();
  lock.release();
  lock.release();
  EXPECT_TRUE(a.done() && b.done() && c.done());
}

TEST_F(LocksTest, FloatingPointTimeout) {
  Event e;
  Future<void> w = e.wait(std::chrono::duration<double>(0.01));
  EXPECT_TRUE(times_out(w));
  EXPECT_THROW(static_cast<void>(e.wait(std::chrono::duration<double>(NAN))),
               std::invalid_argument);
  EXPECT_EQ(e.waiting(), 0u);
}

// A granted waiter's timer is removed at once.
TEST_F(LocksTest, GrantRemovesTheTimer) {
  Semaphore sem(0);
  const size_t timers = loop().pending_timeouts();
  Future<void> a = sem.acquire(1h);
  EXPECT_EQ(loop().pending_timeouts(), timers + 1);
  sem.release();
  EXPECT_TRUE(a.done());
  EXPECT_EQ(loop().pending_timeouts(), timers);
}

// ---- Lifetimes (run these under --config=asan) ---------------------------------------

TEST_F(LocksTest, PrimitivesDestroyedBeforeTheirFutures) {
  Future<void> pending, timed;
  Future<Guard> guard_future;
  Future<bool> cond;
  Future<void> event;
  {
    Lock lock;
    EXPECT_TRUE(lock.acquire().done());
    pending = lock.acquire();
    timed = lock.acquire(10ms);
    Condition c;
    cond = c.wait(10ms);
    Event e;
    event = e.wait();
  }
  {
    Lock lock;
    guard_future = lock.scoped();  // done, holding the lock
  }
  // Nobody can release them: they stay pending (their timers went with
  // the primitive), and can still be cancelled.
  spin(1);
  run([] { return gen::sleep(20ms); });
  EXPECT_FALSE(pending.done());
  EXPECT_FALSE(timed.done());
  EXPECT_FALSE(cond.done());
  EXPECT_TRUE(pending.cancel());
  EXPECT_TRUE(event.cancel());
  // The Guard outlives its lock: releasing does nothing.
  Guard g = guard_future.take_result();
  g.release();
}

TEST_F(LocksTest, CoroutineWaitingOnADestroyedLockStaysSuspended) {
  auto lock = std::make_unique<Lock>();
  EXPECT_TRUE(lock->acquire().done());
  auto waiter = [&]() -> Future<void> { auto guard = co_await lock->scoped(); };
  Future<void> w = waiter();
  lock.reset();
  spin(2);
  EXPECT_FALSE(w.done());
  w.cancel();  // still cancellable
  run_until_done(w);
  EXPECT_TRUE(w.cancelled());
}

TEST(LocksLoopTest, LoopClosedWithTimedWaitersPending) {
  auto lock = std::make_unique<Lock>();
  Future<void> f;
  {
    IOLoop loop;
    EXPECT_TRUE(lock->acquire().done());
    f = lock->acquire(1h);
    loop.close();  // drops the timer's callable
  }
  lock->release();  // the node no longer names the dead loop
  EXPECT_TRUE(f.done());
  lock.reset();
}

TEST_F(LocksTest, ReleaseFromAWaitersCallbackDestroyingTheLock) {
  auto lock = std::make_unique<Lock>();
  EXPECT_TRUE(lock->acquire().done());
  Future<void> f = lock->acquire();
  f.add_done_callback([&](Future<void>) { lock.reset(); });
  lock->release();  // the callback destroys the lock inside release()
  EXPECT_TRUE(f.done());
  EXPECT_EQ(lock, nullptr);
}

// ---- Allocation ---------------------------------------------------------------------

// N contended waits allocate their N futures and nothing per wait besides
// (the waiter nodes live in a reused slab).
TEST(LocksAllocTest, ContendedWaitsAllocateOnlyTheirFutures) {
  if (!tornado::testing::counting_works()) GTEST_SKIP() << "allocations not counted here";
  IOLoop loop;
  Lock lock;
  constexpr int N = 1000;
  std::vector<Future<void>> fs;
  fs.reserve(N);
  std::vector<Future<Guard>> gs;
  gs.reserve(N);
  for (int round = 0; round < 2; ++round) {
    fs.clear();
    gs.clear();
    EXPECT_TRUE(lock.acquire().done());
    tornado::testing::AllocCounter counter;
    for (int i = 0; i < N; ++i) {
      fs.push_back(lock.acquire());
      gs.push_back(lock.scoped());
    }
    lock.release();  // to fs[0]
    for (int i = 0; i < N; ++i) {
      ASSERT_TRUE(fs[i].done());
      lock.release();  // fs[i]'s unit, to gs[i]
      ASSERT_TRUE(gs[i].done());
      gs[i].take_result().release();  // to fs[i + 1]
    }
    EXPECT_FALSE(lock.locked());
    // First round: 2N futures and the slab's doublings; then 2N exactly.
    if (round == 0) {
      EXPECT_LE(counter.count(), 2u * N + 16) << counter.count();
    } else {
      EXPECT_EQ(counter.count(), 2u * N);
    }
  }
}

}  // namespace
}  // namespace tornado::locks
