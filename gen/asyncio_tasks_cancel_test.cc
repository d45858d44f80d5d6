// Cancellation tests ported from CPython's asyncio test suite
// (Lib/test/test_asyncio/test_tasks.py and test_futures.py), rewritten in
// C++ for our coroutines. Each TEST names the asyncio test it follows.
//
// Our coroutines start eagerly: calling one runs it to its first
// suspension (asyncio's create_task runs nothing until the loop turns).
// Where an asyncio test first runs the loop once to "start the task"
// (test_utils.run_briefly), the call has already done it; where it needs
// the task's own handle inside its body (asyncio.current_task(), or a
// variable assigned after create_task), our coroutine first awaits
// gen::moment, because its caller only gets the future once the body has
// suspended. These adaptations are said at each test.
//
// Already covered by gen/cancel_test.cc (not repeated here):
//   test_cancel_current_task's basic case, test_cancel_at_end (non-void),
//   test_sleep_cancel, test_baseexception_during_cancel (an exception
//   escaping the catch of CancelledError wins), test_shield_effect,
//   test_shield_cancel_inner, test_futures.py test_cancel, test_copy_state's
//   cancelled case (chain_future).
//
// Not applicable (and why):
//   - test_cancelling, test_uncancel: no cancelling()/uncancel() counters in
//     our API (Runner::cancelling() is internal and sticky).
//   - test_task_cancel_message_getter/_setter,
//     test_cancel_with_message_then_future_result/_exception,
//     test_cancellation_exception_context, test_cancel_gather_2's message
//     cases, test_futures.py test_future_cancel_message_*: cancel() takes no
//     message, and C++ exceptions have no __context__ chain.
//   - test_cancel_traceback_for_future_result/_exception: Python tracebacks
//     (our coroutines annotate async chains instead; see gen/debug.h).
//   - test_task_repr ("cancelling" in repr), test_log_destroyed_pending_task,
//     test_task_source_traceback: debug-mode reprs and GC-driven logs.
//   - test_yield_wait_does_not_shield_cancel: asyncio.wait() has no port;
//     gen::with_timeout and gen::WaitIterator are the awaitables that do not
//     pass a cancellation on (gen/cancel_awaitables_test.cc).
//   - RunCoroutineThreadsafeTests (*_task_cancelled, *_with_timeout): no
//     run_coroutine_threadsafe.
//   - test_futures.py test_wrap_future_cancel*: no concurrent.futures bridge;
//     test_future_cancelled_*_refcycles: reference cycles of Python objects.
//   - eager_start task factories (3.12): every coroutine of ours is eager.

#include <chrono>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "tornado/gen/gen.h"
#include "tornado/testing/async_test.h"
#include "tornado/testing/run_loop.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

class AsyncioTasksCancelTest : public tornado::testing::AsyncTest {
 protected:
};

Future<void> sleep_for(IOLoop::duration d) { co_await gen::sleep(d); }

Future<int> sleeps_then_12(IOLoop::duration d) {
  co_await gen::sleep(d);
  co_return 12;
}

// Follows test_tasks.py BaseTaskTests.test_cancel: cancelled from a loop
// callback (call_soon(t.cancel)).
TEST_F(AsyncioTasksCancelTest, CancelFromALoopCallback) {
  Future<int> t = sleeps_then_12(10s);
  bool accepted = false;
  loop().add_callback([t, &accepted]() mutable { accepted = t.cancel(); });
  run_until_done(t);
  EXPECT_TRUE(accepted);
  EXPECT_TRUE(t.cancelled());
  EXPECT_THROW(t.result(), CancelledError);
  EXPECT_FALSE(t.cancel());
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

Future<int> two_moments(int* steps) {
  co_await gen::moment;
  ++*steps;
  co_await gen::moment;
  ++*steps;
  co_return 12;
}

Future<int> two_zero_sleeps(int* steps) {
  co_await gen::sleep(0ms);
  ++*steps;
  co_await gen::sleep(0ms);
  ++*steps;
  co_return 12;
}

// Follows test_tasks.py BaseTaskTests.test_cancel_yield. asyncio.sleep(0)
// is a bare yield: our gen::moment. Eager start: the call ran the body to
// its first yield, so run_briefly's "start coro" brings it to the second.
TEST_F(AsyncioTasksCancelTest, CancelYield) {
  int steps = 0;
  Future<int> t = two_moments(&steps);
  run_once();
  ASSERT_EQ(steps, 1);
  EXPECT_TRUE(t.cancel());
  run_until_done(t);
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(steps, 1);
  EXPECT_FALSE(t.cancel());
}

// test_cancel_yield again with gen::sleep(0ms), a timer, as the yield:
// cancelled at its first one.
TEST_F(AsyncioTasksCancelTest, CancelYieldOnAZeroSleep) {
  int steps = 0;
  Future<int> t = two_zero_sleeps(&steps);
  EXPECT_TRUE(t.cancel());
  run_until_done(t);
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(steps, 0);
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

Future<int> awaits_then_12(Future<void> f) {
  co_await f;
  co_return 12;
}

// Follows test_tasks.py BaseTaskTests.test_cancel_inner_future: cancelling
// the awaited future (not the coroutine) ends the coroutine cancelled, from
// the loop.
TEST_F(AsyncioTasksCancelTest, CancelInnerFuture) {
  Future<void> f;
  Future<int> t = awaits_then_12(f);
  EXPECT_TRUE(f.cancel());
  EXPECT_FALSE(t.done());  // never inline
  run_until_done(t);
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(t.cancelled());
}

// Follows test_tasks.py BaseTaskTests.test_cancel_both_task_and_inner_future:
// the inner future is already cancelled (the coroutine's resumption is
// queued) when the coroutine is cancelled too.
TEST_F(AsyncioTasksCancelTest, CancelBothTaskAndInnerFuture) {
  Future<void> f;
  Future<int> t = awaits_then_12(f);
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(t.cancel());
  run_until_done(t);
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(t.cancelled());
  EXPECT_FALSE(t.cancel());
}

// Follows test_tasks.py BaseTaskTests.test_task_cancel_waiter_future: the
// awaited future is cancelled at once by the coroutine's cancel(), and the
// coroutine ends in the next iteration.
TEST_F(AsyncioTasksCancelTest, CancelCancelsTheWaiterFuture) {
  Future<void> fut;
  Future<int> t = awaits_then_12(fut);
  EXPECT_TRUE(t.cancel());
  EXPECT_TRUE(fut.cancelled());
  EXPECT_FALSE(t.done());
  run_once();
  EXPECT_TRUE(t.cancelled());
}

Future<int> catches_on_second(Future<void> fut1, Future<void> fut2) {
  co_await fut1;
  try {
    co_await fut2;
  } catch (const CancelledError&) {
    co_return 42;
  }
  co_return 0;
}

// Follows test_tasks.py BaseTaskTests.test_cancel_task_catching.
TEST_F(AsyncioTasksCancelTest, CancelTaskCatching) {
  Future<void> fut1, fut2;
  Future<int> t = catches_on_second(fut1, fut2);
  fut1.set_result();
  run_once();
  EXPECT_FALSE(fut2.done());  // now awaiting fut2 (asyncio: t._fut_waiter is fut2)
  EXPECT_TRUE(t.cancel());
  EXPECT_TRUE(fut2.cancelled());
  run_until_done(t);
  EXPECT_EQ(t.result(), 42);
  EXPECT_FALSE(t.cancelled());
}

Future<int> ignores_then_awaits(Future<void> fut1, Future<void> fut2, Future<int> fut3) {
  co_await fut1;
  try {
    co_await fut2;
  } catch (const CancelledError&) {
  }
  int res = co_await fut3;
  co_return res;
}

// Follows test_tasks.py BaseTaskTests.test_cancel_task_ignoring: after
// catching the cancellation, the next co_await is not cancelled.
TEST_F(AsyncioTasksCancelTest, CancelTaskIgnoring) {
  Future<void> fut1, fut2;
  Future<int> fut3;
  Future<int> t = ignores_then_awaits(fut1, fut2, fut3);
  fut1.set_result();
  run_once();
  EXPECT_TRUE(t.cancel());
  EXPECT_TRUE(fut2.cancelled());
  run_once();
  EXPECT_FALSE(t.done());
  EXPECT_FALSE(fut3.done());  // awaited, not cancelled
  fut3.set_result(42);
  run_until_done(t);
  EXPECT_EQ(t.result(), 42);
  EXPECT_FALSE(fut3.cancelled());
  EXPECT_FALSE(t.cancelled());
}

Future<int> self_cancel_then_awaits(Future<int>* self, std::vector<std::string>* trace) {
  co_await gen::moment;  // eager start: *self is assigned once the call returned
  EXPECT_TRUE(self->cancel());
  // A co_await of a done future does not suspend: no delivery there.
  int v = co_await make_ready_future(5);
  trace->push_back("got " + std::to_string(v));
  co_await gen::sleep(100s);  // delivered here: the sleep is cancelled at once
  trace->push_back("after sleep");
  co_return 12;
}

// Follows test_tasks.py BaseTaskTests.test_cancel_current_task, extended: a
// cancel requested while the coroutine runs is delivered at the next
// co_await that suspends, not at a co_await of a done future (asyncio: a
// done future's __await__ does not yield to the task either).
TEST_F(AsyncioTasksCancelTest, CancelCurrentTaskDeliveredAtTheNextSuspension) {
  std::vector<std::string> trace;
  Future<int> t;
  t = self_cancel_then_awaits(&t, &trace);
  EXPECT_FALSE(t.cancelled());
  run_until_done(t);
  EXPECT_EQ(trace, std::vector<std::string>{"got 5"});
  EXPECT_TRUE(t.cancelled());
  EXPECT_FALSE(t.cancel());
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

Future<void> self_cancel_then_ends(Future<void>* self) {
  co_await gen::moment;  // eager start: see above
  EXPECT_TRUE(self->cancel());
}

// Follows test_tasks.py BaseTaskTests.test_cancel_at_end, for a Future<void>
// coroutine flowing off its end (return_void); gen/cancel_test.cc has the
// co_return-value case.
TEST_F(AsyncioTasksCancelTest, CancelAtEndOfAVoidCoroutine) {
  Future<void> t;
  t = self_cancel_then_ends(&t);
  run_until_done(t);
  EXPECT_TRUE(t.cancelled());
  EXPECT_FALSE(t.cancel());
}

Future<void> awaits_plain(Future<void> fut) { co_await fut; }

Future<void> cancels_self_then_awaits_nested(Future<void>* self, Future<void> fut,
                                             Future<void>* nested) {
  *nested = awaits_plain(fut);  // eager: already suspended on fut
  co_await gen::moment;
  EXPECT_TRUE(self->cancel());
  // Not suspended when cancelled: the cancellation goes to what we await
  // next, the nested coroutine, and through it to fut.
  co_await *nested;
}

// Follows test_tasks.py BaseTaskTests.test_cancel_awaited_task (bpo-34872).
TEST_F(AsyncioTasksCancelTest, CancelAwaitedTask) {
  Future<void> fut;
  Future<void> nested;
  Future<void> task;
  task = cancels_self_then_awaits_nested(&task, fut, &nested);
  run_until_done(task);
  EXPECT_TRUE(task.cancelled());
  EXPECT_TRUE(nested.cancelled());
  EXPECT_TRUE(fut.cancelled());
}

Future<void> counts_and_stops(int* x) {
  while (*x < 10) {
    co_await gen::sleep(1ms);
    ++*x;
    if (*x == 2) IOLoop::current().stop();
  }
}

// Follows test_tasks.py BaseTaskTests.test_stop_while_run_in_complete: the
// loop stops under a running coroutine; cancelling it later still works.
TEST_F(AsyncioTasksCancelTest, CancelAfterTheLoopStoppedUnderIt) {
  int x = 0;
  Future<void> t = counts_and_stops(&x);
  IOLoop::Timeout guard = loop().call_later(5s, [this] { loop().stop(); });
  loop().start();
  loop().remove_timeout(guard);
  EXPECT_FALSE(t.done());
  EXPECT_EQ(x, 2);
  EXPECT_TRUE(t.cancel());
  run_until_done(t);
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(x, 2);
}

Future<std::string> cancel_sleeping_task() {
  Future<void> sleeper = sleep_for(5000s);
  IOLoop::current().call_later(10ms, [sleeper]() mutable { sleeper.cancel(); });
  try {
    co_await sleeper;
  } catch (const CancelledError&) {
    co_return "cancelled";
  }
  co_return "slept in";
}

// Follows test_tasks.py BaseTaskTests.test_task_cancel_sleeping_task.
TEST_F(AsyncioTasksCancelTest, TaskCancelSleepingTask) {
  const auto t0 = loop().time();
  Future<std::string> doer = cancel_sleeping_task();
  run_until_done(doer);
  EXPECT_EQ(doer.result(), "cancelled");
  EXPECT_GE(loop().time() - t0, 10ms);
  EXPECT_LT(loop().time() - t0, 5s);
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

Future<void> inner_proof(Future<void> waiter, int* proof) {
  try {
    co_await waiter;
  } catch (const CancelledError&) {
    *proof += 1;
    throw;
  }
  ADD_FAILURE() << "got past the waiter in inner()";
}

Future<void> outer_proof(Future<void> waiter, int* proof) {
  try {
    co_await inner_proof(waiter, proof);
  } catch (const CancelledError&) {
    *proof += 100;  // expect this path
    co_return;
  }
  *proof += 10;
}

// Follows test_tasks.py BaseTaskTests.test_yield_future_passes_cancel:
// cancelling outer() cancels inner() cancels the waiter; outer catches it
// and returns normally.
TEST_F(AsyncioTasksCancelTest, YieldFuturePassesCancel) {
  Future<void> waiter;
  int proof = 0;
  Future<void> f = outer_proof(waiter, &proof);
  EXPECT_TRUE(f.cancel());
  run_until_done(f);
  EXPECT_FALSE(f.cancelled());
  EXPECT_NO_THROW(f.result());
  EXPECT_EQ(proof, 101);
  EXPECT_TRUE(waiter.cancelled());
}

// ---- shield ----------------------------------------------------------------------

// Follows test_tasks.py BaseTaskTests.test_shield_result.
TEST_F(AsyncioTasksCancelTest, ShieldResult) {
  Future<int> inner;
  Future<int> outer = gen::shield(inner);
  inner.set_result(42);
  ASSERT_TRUE(outer.done());
  EXPECT_EQ(outer.result(), 42);
}

// Follows test_tasks.py BaseTaskTests.test_shield_exception.
TEST_F(AsyncioTasksCancelTest, ShieldException) {
  Future<int> inner;
  Future<int> outer = gen::shield(inner);
  run_once();
  inner.set_exception(std::make_exception_ptr(std::runtime_error("expected")));
  run_once();
  ASSERT_TRUE(outer.done());
  EXPECT_FALSE(outer.cancelled());
  EXPECT_THROW(outer.result(), std::runtime_error);
}

// Follows test_tasks.py BaseTaskTests.test_shield_cancel_outer: the outer
// future is cancelled, the inner one is not; the inner's later outcome,
// even a failure, is not reported (asyncio marks it retrieved too).
TEST_F(AsyncioTasksCancelTest, ShieldCancelOuter) {
  Future<int> inner;
  Future<int> outer = gen::shield(inner);
  run_once();
  EXPECT_TRUE(outer.cancel());
  run_once();
  EXPECT_TRUE(outer.cancelled());
  EXPECT_FALSE(inner.done());
  inner.set_exception(std::make_exception_ptr(std::runtime_error("late")));
  EXPECT_TRUE(outer.cancelled());
  // Dropping `inner` at the end of the test logs nothing: the fixture
  // fails on an unexpected ERROR line ("never retrieved").
}

// Follows test_tasks.py BaseTaskTests.test_shield_shortcut.
TEST_F(AsyncioTasksCancelTest, ShieldShortcut) {
  Future<int> fut = make_ready_future(42);
  Future<int> s = gen::shield(fut);
  EXPECT_EQ(s, fut);
  EXPECT_EQ(s.result(), 42);
  EXPECT_FALSE(s.cancel());  // done: nothing to cancel
}

// Follows test_tasks.py BaseTaskTests.test_shield_gather (gather: multi).
TEST_F(AsyncioTasksCancelTest, ShieldMulti) {
  Future<int> child1, child2;
  Future<std::vector<int>> parent = gen::multi(std::vector<Future<int>>{child1, child2});
  Future<std::vector<int>> outer = gen::shield(parent);
  run_once();
  EXPECT_TRUE(outer.cancel());
  run_once();
  EXPECT_TRUE(outer.cancelled());
  EXPECT_FALSE(child1.done());
  child1.set_result(1);
  child2.set_result(2);
  run_once();
  ASSERT_TRUE(parent.done());
  EXPECT_EQ(parent.result(), (std::vector<int>{1, 2}));
}

// Follows test_tasks.py BaseTaskTests.test_gather_shield: cancelling the
// multi cancels the shields, not the children behind them.
TEST_F(AsyncioTasksCancelTest, MultiOfShields) {
  Future<int> child1, child2;
  Future<int> inner1 = gen::shield(child1);
  Future<int> inner2 = gen::shield(child2);
  Future<std::vector<int>> parent = gen::multi(std::vector<Future<int>>{inner1, inner2});
  run_once();
  EXPECT_TRUE(parent.cancel());
  run_once();
  ASSERT_TRUE(parent.done());
  EXPECT_TRUE(parent.cancelled());
  EXPECT_TRUE(inner1.cancelled());
  EXPECT_TRUE(inner2.cancelled());
  EXPECT_FALSE(child1.done());
  EXPECT_FALSE(child2.done());
  child1.set_result(1);
  child2.set_result(2);
  run_once();
}

// ---- multi (asyncio's gather) -----------------------------------------------------

Future<int> awaits_int(Future<int> fut) { co_return co_await fut; }

// Follows test_tasks.py BaseTaskTests.test_cancel_gather_1 ("a gathering
// future refuses to be cancelled once all children are done"), adapted:
// asyncio runs done-callbacks from the loop, so its gather is still
// pending, with its child done, when the cancel arrives; ours run inline,
// so a multi is done the moment its last child is, and cancel() then
// returns false. The window that does exist here (the child's awaited
// future done, the child not yet resumed) follows API.md instead: the
// child throws CancelledError rather than take the result, and the multi
// ends cancelled.
TEST_F(AsyncioTasksCancelTest, CancelMultiOnceItsChildrenAreDone) {
  {
    Future<int> fut;
    Future<std::vector<int>> m = gen::multi(std::vector<Future<int>>{awaits_int(fut)});
    fut.set_result(42);
    run_until_done(m);
    EXPECT_FALSE(m.cancel());
    EXPECT_FALSE(m.cancelled());
    EXPECT_EQ(m.result(), std::vector<int>{42});
  }
  {
    Future<int> fut;
    Future<int> child = awaits_int(fut);
    Future<std::vector<int>> m = gen::multi(std::vector<Future<int>>{child});
    bool cancel_result = false;
    fut.add_done_callback([&](Future<int>) { cancel_result = m.cancel(); });
    fut.set_result(42);  // the child's resumption is queued; then m.cancel()
    run_until_done(m);
    EXPECT_TRUE(cancel_result);
    EXPECT_TRUE(child.cancelled());
    EXPECT_TRUE(m.cancelled());
  }
}

Future<void> multi_in_a_loop(int* rounds) {
  while (*rounds < 1000000) {
    std::vector<Future<void>> kids;  // (GCC: no initializer list inside co_await)
    kids.push_back(gen::sleep(5ms));
    co_await gen::multi(std::move(kids));
    ++*rounds;
  }
}

// Follows test_tasks.py BaseTaskTests.test_cancel_gather_2 (without its
// cancel messages and return_exceptions): a coroutine awaiting a multi in
// a loop is cancelled and ends cancelled.
TEST_F(AsyncioTasksCancelTest, CancelCoroutineAwaitingMultiInALoop) {
  int rounds = 0;
  Future<void> qwe = multi_in_a_loop(&rounds);
  Future<void> main = [](Future<void> qwe) -> Future<void> {
    co_await gen::sleep(20ms);
    EXPECT_TRUE(qwe.cancel());
    co_await qwe;
  }(qwe);
  run_until_done(main);
  EXPECT_TRUE(main.cancelled());
  EXPECT_TRUE(qwe.cancelled());
  EXPECT_GE(rounds, 1);
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

// Follows test_tasks.py FutureGatherTests.test_one_cancellation, adapted:
// multi() has no fail-fast (Tornado 4.5): it waits for every child, then
// fails with the first failure in input order, here the CancelledError of
// `b`. Deliberate difference: the multi's future then counts as cancelled
// (asyncio: fut.cancelled() is false with a CancelledError exception),
// because ours is cancelled exactly when its exception is a CancelledError
// (future.h). The later failure of `e` is logged as Tornado logs it; the
// other cancellation (`d`) is not.
TEST_F(AsyncioTasksCancelTest, MultiWithOneCancelledChild) {
  std::vector<Future<int>> kids(5);
  Future<std::vector<int>> fut = gen::multi(kids);
  int calls = 0;
  fut.add_done_callback([&](Future<std::vector<int>>) { ++calls; });
  kids[0].set_result(1);
  kids[1].cancel();
  run_once();
  EXPECT_FALSE(fut.done());  // no fail-fast
  kids[2].set_result(3);
  kids[3].cancel();
  {
    tornado::testing::ExpectLog expect(*this, "Multiple exceptions in yield list: std::runtime_error: e");
    kids[4].set_exception(std::make_exception_ptr(std::runtime_error("e")));
  }
  ASSERT_TRUE(fut.done());
  EXPECT_EQ(calls, 1);
  EXPECT_THROW(fut.result(), CancelledError);
  EXPECT_TRUE(fut.cancelled());
  for (const auto& line : log_lines()) {
    EXPECT_EQ(line.text.find("CancelledError"), std::string::npos) << line.text;
  }
}

Future<void> inner_proof_plus(Future<void> waiter, int* proof) {
  co_await waiter;
  *proof += 1;
}

// Follows test_tasks.py CoroutineGatherTests.test_cancellation_broadcast:
// cancelling the coroutine awaiting a multi cancels every child (both
// await the same waiter: the first cancels it, the second is cancelled
// with its awaited future already done); nothing is logged for them.
TEST_F(AsyncioTasksCancelTest, CancellationBroadcast) {
  int proof = 0;
  Future<void> waiter;
  Future<void> child1 = inner_proof_plus(waiter, &proof);
  Future<void> child2 = inner_proof_plus(waiter, &proof);
  Future<void> gatherer;
  Future<void> f = [](Future<void> c1, Future<void> c2, Future<void>* g,
                      int* proof) -> Future<void> {
    *g = gen::multi(std::vector<Future<void>>{c1, c2});
    co_await *g;
    *proof += 100;
  }(child1, child2, &gatherer, &proof);
  run_once();
  EXPECT_TRUE(f.cancel());
  run_until_done(f);
  EXPECT_TRUE(f.cancelled());
  EXPECT_FALSE(gatherer.cancel());
  EXPECT_TRUE(waiter.cancelled());
  EXPECT_TRUE(child1.cancelled());
  EXPECT_TRUE(child2.cancelled());
  run_once();
  EXPECT_EQ(proof, 0);
}

// ---- plain futures (test_futures.py) ----------------------------------------------

Future<int> finishes_at_once() { co_return 7; }

// Follows test_tasks.py BaseTaskTests.test_cancel_with_message_before_starting_task
// and test_futures.py's "cancel a done future" cases, adapted to eager
// start: a coroutine that never suspends has finished when its call
// returns, so there is no "not started yet" to cancel: cancel() returns
// false and the result stands.
TEST_F(AsyncioTasksCancelTest, CoroutineDoneAtItsCallCannotBeCancelled) {
  Future<int> t = finishes_at_once();
  ASSERT_TRUE(t.done());
  EXPECT_FALSE(t.cancel());
  EXPECT_FALSE(t.cancelled());
  EXPECT_EQ(t.result(), 7);
}

// Follows test_futures.py BaseFutureTests.test_uninitialized, for what a
// Future can be without a state: a moved-from handle.
TEST_F(AsyncioTasksCancelTest, MovedFromFutureCannotBeCancelled) {
  Future<int> f;
  Future<int> g = std::move(f);
  EXPECT_THROW(static_cast<void>(f.cancel()), InvalidStateError);  // NOLINT(bugprone-use-after-move)
  EXPECT_FALSE(f.cancelled());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(g.cancel());
}

// Follows test_tasks.py BaseTaskTests.test_tb_logger_not_called_after_cancel:
// cancel() on a future that already failed returns false and, as in
// asyncio, silences the "exception was never retrieved" report (whoever
// cancels no longer wants the outcome). AsyncTest fails on the log line.
TEST_F(AsyncioTasksCancelTest, CancelOfAFailedFutureSilencesItsReport) {
  {
    Future<int> task = []() -> Future<int> {
      throw std::invalid_argument("TypeError");
      co_return 0;
    }();
    ASSERT_TRUE(task.done());
    EXPECT_FALSE(task.cancel());
    EXPECT_FALSE(task.cancelled());
    EXPECT_THROW(task.result(), std::invalid_argument);  // the outcome stays
  }
  {
    Future<int> task = []() -> Future<int> {
      throw std::invalid_argument("TypeError");
      co_return 0;
    }();
    EXPECT_FALSE(task.cancel());
  }
  EXPECT_FALSE(logged("never retrieved"));
}

}  // namespace
}  // namespace tornado
