// gen::wait_for tests ported from CPython's asyncio test suite
// (Lib/test/test_asyncio/test_waitfor.py, Python 3.12's wait_for, built on
// asyncio.timeout()), rewritten in C++ for our eagerly started coroutines.
// Each TEST names the asyncio test it follows. Times are scaled down
// (asyncio's 0.1 s is 10 ms here) where only their order matters.
//
// Already covered by gen/cancel_test.cc (not repeated here): test_wait_for,
// test_wait_for_cancellation_race_condition and test_wait_for_cancel_suppressed
// (the inner future swallows the cancellation and returns a value),
// test_cancel_wait_for (cancelling wait_for cancels the inner coroutine and
// waits for it), the 0-timeout case of
// test_wait_for_timeout_less_then_0_or_0_future_done.
//
// Not applicable (and why):
//   - test_wait_for_blocking, test_cancel_blocking_wait_for: wait_for has
//     no "timeout=None" form (use the future itself).
//   - The "exception.__context__ is CancelledError" checks of
//     test_wait_for_waits_for_task_cancellation(_w_timeout_0): C++
//     exceptions have no context chain; the rest of those tests is ported.

#include <chrono>
#include <stdexcept>
#include <string>

#include "gtest/gtest.h"
#include "tornado/gen/gen.h"
#include "tornado/testing/async_test.h"
#include "tornado/testing/run_loop.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

class AsyncioWaitForTest : public tornado::testing::AsyncTest {
 protected:
};

// asyncio's SlowTask: runs for `total`, swallowing every cancellation.
Future<void> slow_task(IOLoop::duration total, bool* exited) {
  const auto exit_at = IOLoop::current().time() + total;
  for (;;) {
    const auto left = exit_at - IOLoop::current().time();
    if (left <= IOLoop::duration::zero()) break;
    try {
      co_await gen::sleep(left);
    } catch (const CancelledError&) {
    }
  }
  *exited = true;
}

constexpr auto kSlowTaskTime = 50ms;

// Follows test_waitfor.py test_asyncio_wait_for_cancelled: cancelling
// wait_for cancels the inner task, which ignores it; wait_for waits for it
// to finish. The inner task took the cancellation as something else
// (it returned normally), so wait_for gives its outcome (API.md; asyncio's
// task does the same once started: its awaited task accepted the cancel).
TEST_F(AsyncioWaitForTest, WaitForCancelledWaitsForTheInner) {
  bool exited = false;
  Future<void> w = gen::wait_for(kSlowTaskTime * 2, slow_task(kSlowTaskTime, &exited));
  run_once();
  EXPECT_TRUE(w.cancel());
  run_until_done(w);
  EXPECT_TRUE(exited);
  EXPECT_FALSE(w.cancelled());
  EXPECT_NO_THROW(w.result());
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

// Follows test_waitfor.py test_asyncio_wait_for_timeout: on timeout the
// inner task is cancelled and awaited; it ignores the cancellation and
// finishes normally, so wait_for gives its outcome rather than
// TimeoutError (3.12's wait_for does the same).
TEST_F(AsyncioWaitForTest, WaitForTimeoutWaitsForTheInner) {
  bool exited = false;
  const auto t0 = loop().time();
  Future<void> w = gen::wait_for(kSlowTaskTime / 2, slow_task(kSlowTaskTime, &exited));
  run_until_done(w);
  EXPECT_TRUE(exited);
  EXPECT_GE(loop().time() - t0, kSlowTaskTime);
  EXPECT_NO_THROW(w.result());
}

Future<std::string> done_at_once(bool* started) {
  *started = true;
  co_return "done";
}

// Follows test_waitfor.py test_wait_for_timeout_less_then_0_or_0_future_done
// (negative timeout; gen/cancel_test.cc has 0) and
// test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started, adapted:
// asyncio's coroutine has not started, so a zero timeout never runs it and
// raises TimeoutError; ours ran to its end when called, so wait_for gets a
// done future and returns it as it is, whatever the timeout.
TEST_F(AsyncioWaitForTest, WaitForDoneFutureWithZeroOrNegativeTimeout) {
  Future<std::string> fut = make_ready_future(std::string("done"));
  Future<std::string> w = gen::wait_for(-1s, fut);
  ASSERT_TRUE(w.done());
  EXPECT_EQ(w.result(), "done");
  for (auto timeout : {IOLoop::duration(0), IOLoop::duration(-1s)}) {
    bool started = false;
    Future<std::string> w2 = gen::wait_for(timeout, done_at_once(&started));
    EXPECT_TRUE(started);
    ASSERT_TRUE(w2.done());
    EXPECT_EQ(w2.result(), "done");
  }
}

Future<std::string> foo_running_flag(Future<void> started, bool* running) {
  *running = true;
  started.set_result();
  try {
    co_await gen::sleep(10s);
  } catch (...) {
    *running = false;  // asyncio's finally
    throw;
  }
  *running = false;
  co_return "done";
}

// Follows test_waitfor.py test_wait_for_timeout_less_then_0_or_0: a zero or
// negative timeout on a running task cancels it (on the next iteration)
// and raises TimeoutError once it has finished.
TEST_F(AsyncioWaitForTest, WaitForZeroOrNegativeTimeoutCancelsARunningTask) {
  for (auto timeout : {IOLoop::duration(0), IOLoop::duration(-1s)}) {
    SCOPED_TRACE(timeout.count());
    bool running = false;
    Future<void> started;
    Future<std::string> fut = foo_running_flag(started, &running);
    ASSERT_TRUE(started.done());
    const auto t0 = loop().time();
    Future<std::string> w = gen::wait_for(timeout, fut);
    EXPECT_FALSE(w.done());
    run_until_done(w);
    EXPECT_THROW(w.result(), TimeoutError);
    EXPECT_TRUE(fut.cancelled());
    EXPECT_FALSE(running);
    EXPECT_LT(loop().time() - t0, 1s);
  }
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

// Follows test_waitfor.py test_wait_for_race_condition: the future is
// completed by a timer before the deadline.
TEST_F(AsyncioWaitForTest, WaitForResultBeforeTheDeadline) {
  Future<std::string> fut;
  Future<std::string> w = gen::wait_for(2s, fut);
  loop().call_later(10ms, [fut]() mutable { fut.set_result("ok"); });
  run_until_done(w);
  EXPECT_EQ(w.result(), "ok");
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

// inner() of test_wait_for_waits_for_task_cancellation: takes a moment to
// honour a cancellation, then re-raises it.
Future<void> slow_to_cancel(bool* task_done) {
  bool cancelled = false;
  try {
    co_await gen::sleep(10s);
  } catch (const CancelledError&) {
    cancelled = true;
  }
  if (cancelled) {
    co_await gen::sleep(100us);  // no co_await inside a handler in C++
    *task_done = true;
    throw CancelledError();
  }
  *task_done = true;
}

// Follows test_waitfor.py test_wait_for_waits_for_task_cancellation.
TEST_F(AsyncioWaitForTest, WaitForWaitsForTaskCancellation) {
  bool task_done = false;
  Future<void> inner_task = slow_to_cancel(&task_done);
  Future<void> w = gen::wait_for(100us, inner_task);
  run_until_done(w);
  EXPECT_TRUE(task_done);
  EXPECT_THROW(w.result(), TimeoutError);
  EXPECT_TRUE(inner_task.cancelled());
}

Future<void> foo_w_timeout_0(bool* task_done) {
  Future<void> inner_task = slow_to_cancel(task_done);
  co_await gen::sleep(100us);
  co_await gen::wait_for(0s, inner_task);
}

// Follows test_waitfor.py test_wait_for_waits_for_task_cancellation_w_timeout_0.
TEST_F(AsyncioWaitForTest, WaitForWaitsForTaskCancellationWithTimeout0) {
  bool task_done = false;
  Future<void> f = foo_w_timeout_0(&task_done);
  run_until_done(f);
  EXPECT_TRUE(task_done);
  EXPECT_THROW(f.result(), TimeoutError);
}

struct FooError : std::runtime_error {
  FooError() : std::runtime_error("FooException") {}
};

Future<void> raises_in_finally() {
  try {
    co_await gen::sleep(200ms);
  } catch (...) {
    throw FooError();
  }
  throw FooError();
}

// Follows test_waitfor.py test_wait_for_reraises_exception_during_cancellation.
TEST_F(AsyncioWaitForTest, WaitForReraisesExceptionDuringCancellation) {
  Future<void> f = []() -> Future<void> {
    Future<void> inner_task = raises_in_finally();
    co_await gen::wait_for(100us, inner_task);
  }();
  run_until_done(f);
  EXPECT_THROW(f.result(), FooError);
}

// inner() of test_wait_for_self_cancellation: holds up two cancellations,
// then returns 42.
Future<int> holds_up_cancellations(int* caught) {
  bool c1 = false;
  try {
    co_await gen::sleep(30ms);
  } catch (const CancelledError&) {
    c1 = true;
    ++*caught;
  }
  if (c1) {
    bool c2 = false;
    try {
      co_await gen::sleep(30ms);
    } catch (const CancelledError&) {
      c2 = true;
      ++*caught;
    }
    if (c2) co_await gen::sleep(30ms);
  }
  co_return 42;
}

// Follows test_waitfor.py test_wait_for_self_cancellation, adapted to eager
// start. asyncio cancels a wait_for task that has not started: its
// coroutine never awaits the inner task, so the task ends cancelled and
// the inner one returns 42 untouched. Ours has started (it awaits the
// inner coroutine when gen::wait_for returns), so its cancellation goes to
// the inner coroutine, which holds it up and returns 42: wait_for then
// gives 42 (API.md: the awaited future took the cancellation as something
// else), as asyncio does for a started task. The deadline passing
// afterwards does not cancel the inner coroutine a second time (the
// wait_for's own cancellation, asked first, wins).
TEST_F(AsyncioWaitForTest, WaitForSelfCancellation) {
  int caught = 0;
  Future<int> inner_task = holds_up_cancellations(&caught);
  Future<int> w = gen::wait_for(10ms, inner_task);
  EXPECT_TRUE(w.cancel());
  run_until_done(w);
  EXPECT_EQ(w.result(), 42);
  EXPECT_EQ(inner_task.result(), 42);
  EXPECT_EQ(caught, 1);
}

Future<void> blocking_coroutine() {
  Future<void> fut;  // never completed
  co_await fut;
}

// Follows test_waitfor.py _test_cancel_wait_for (test_cancel_wait_for, 60 s):
// cancelled from a loop callback (call_soon(wait.cancel)); Python issue
// #23219: cancelling the wait must also cancel the task.
TEST_F(AsyncioWaitForTest, CancelWaitForFromALoopCallback) {
  Future<void> task = blocking_coroutine();
  Future<void> wait = gen::wait_for(60s, task);
  loop().add_callback([wait]() mutable { wait.cancel(); });
  run_until_done(wait);
  EXPECT_TRUE(wait.cancelled());
  EXPECT_TRUE(task.cancelled());
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

Future<void> awaits_gate(Future<void> gate) { co_await gate; }

Future<void> wait_for_then_sleep(Future<void> inner, bool* reached_end) {
  co_await gen::wait_for(100s, inner);
  co_await gen::sleep(1s);
  *reached_end = true;
}

// Follows test_waitfor.py test_wait_for_issue86296 (gh-86296: a
// cancellation arriving as the inner future completes must not be lost).
// Eager start: inner() finishes when called, so wait_for returns its done
// future and the cancel finds the coroutine on its sleep. The second part
// makes the race of the issue happen: the inner coroutine finishes, and the
// cancel arrives before wait_for has resumed.
TEST_F(AsyncioWaitForTest, WaitForIssue86296) {
  {
    bool reached_end = false;
    Future<void> task = wait_for_then_sleep(make_ready_future(), &reached_end);
    run_once();
    EXPECT_FALSE(task.done());
    EXPECT_TRUE(task.cancel());
    run_until_done(task);
    EXPECT_TRUE(task.cancelled());
    EXPECT_FALSE(reached_end);
  }
  {
    bool reached_end = false;
    Future<void> gate;
    Future<void> inner = awaits_gate(gate);
    Future<void> task = wait_for_then_sleep(inner, &reached_end);
    gate.set_result();
    run_once();  // inner resumes and finishes; wait_for's resumption is queued
    ASSERT_TRUE(inner.done());
    EXPECT_TRUE(task.cancel());
    run_until_done(task);
    EXPECT_TRUE(task.cancelled());
    EXPECT_FALSE(reached_end);
    EXPECT_EQ(loop().pending_timeouts(), 0u);
  }
}

// Sees a cancellation, then takes a while (20 ms) to honour it.
Future<void> slow_to_honour(bool* seen) {
  bool cancelled = false;
  try {
    co_await gen::sleep(10s);
  } catch (const CancelledError&) {
    cancelled = true;
    *seen = true;
  }
  if (cancelled) {
    co_await gen::sleep(20ms);
    throw CancelledError();
  }
}

// Not in test_waitfor.py; asyncio 3.12's rule (asyncio.timeout() counts
// cancellations: Timeout.__aexit__ turns the CancelledError into
// TimeoutError only when no other cancel was requested): the deadline
// passes, the inner coroutine is slow to honour it, and meanwhile the
// wait_for itself is cancelled: that cancellation wins over TimeoutError.
// Otherwise a coroutine cancelled while awaiting wait_for would get
// TimeoutError instead, and could catch it and go on: the cancel lost.
TEST_F(AsyncioWaitForTest, CancelAfterTheDeadlineWinsOverTimeoutError) {
  bool seen = false;
  Future<void> inner = slow_to_honour(&seen);
  Future<void> w = gen::wait_for(1ms, inner);
  Future<void> parent = [](Future<void> w) -> Future<void> {
    try {
      co_await w;
    } catch (const TimeoutError&) {
      ADD_FAILURE() << "the parent's cancellation became a TimeoutError";
    }
  }(w);
  tornado::testing::run_until(loop(), [&] { return seen; });
  ASSERT_TRUE(seen);  // the deadline passed: the inner one is honouring it
  EXPECT_TRUE(parent.cancel());
  run_until_done(parent);
  EXPECT_TRUE(inner.cancelled());
  EXPECT_TRUE(w.cancelled());
  EXPECT_TRUE(parent.cancelled());
}

}  // namespace
}  // namespace tornado
