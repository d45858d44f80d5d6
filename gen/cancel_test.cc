// Cancellation: Future::cancel() on plain futures, sleeps and coroutines
// (the semantics of ../shared/API.md, which are asyncio's adapted to
// coroutines that start eagerly). Tests that follow one of CPython's
// asyncio tests name it (Lib/test/test_asyncio/test_tasks.py unless said
// otherwise).

#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tornado/gen/gen.h"
#include "tornado/logging/logging.h"
#include "tornado/testing/run_loop.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

class CancelTest : public ::testing::Test {
 protected:
  CancelTest() { loop_.make_current(); }
  ~CancelTest() override { loop_.close(); }

  // Runs the loop until `f` is done (or 5 s pass).
  template <class T>
  void run_until_done(const Future<T>& f) {
    testing::run_until(loop_, [&] { return f.done(); });
    ASSERT_TRUE(f.done());
  }
  // One loop iteration.
  void run_once() { testing::run_once(loop_); }

  std::vector<std::string> log_;
  logging::ScopedSink sink_{[this](logging::Level, std::string_view s) {
    log_.emplace_back(s);
  }};
  IOLoop loop_;
};

// ---- CancelledError and plain futures --------------------------------------------

TEST(CancelledErrorTest, IsNotARuntimeError) {
  static_assert(std::is_base_of_v<std::exception, CancelledError>);
  static_assert(!std::is_base_of_v<std::runtime_error, CancelledError>);
  static_assert(!std::is_base_of_v<std::logic_error, CancelledError>);
  bool caught_as_runtime = false, caught_as_cancel = false;
  try {
    try {
      throw CancelledError();
    } catch (const std::runtime_error&) {
      caught_as_runtime = true;
    }
  } catch (const CancelledError&) {
    caught_as_cancel = true;
  }
  EXPECT_FALSE(caught_as_runtime);
  EXPECT_TRUE(caught_as_cancel);
}

// Follows test_futures.py BaseFutureTests.test_cancel.
TEST(FutureCancelTest, PendingFutureCompletesCancelledAndRunsCallbacks) {
  Future<int> f;
  int calls = 0;
  f.add_done_callback([&](Future<int> d) {
    ++calls;
    EXPECT_TRUE(d.cancelled());
  });
  EXPECT_FALSE(f.cancelled());
  EXPECT_TRUE(f.cancel());
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(f.done());
  EXPECT_TRUE(f.cancelled());
  EXPECT_THROW(f.result(), CancelledError);
  // exception() returns it, does not throw.
  std::exception_ptr e = f.exception();
  ASSERT_TRUE(e);
  EXPECT_THROW(std::rethrow_exception(e), CancelledError);
  EXPECT_THROW(f.set_result(1), InvalidStateError);
  EXPECT_THROW(f.set_exception(std::make_exception_ptr(std::runtime_error("x"))),
               InvalidStateError);
  // A second cancel, and cancel on a done future: false, nothing changes.
  EXPECT_FALSE(f.cancel());
  EXPECT_EQ(calls, 1);
}

TEST(FutureCancelTest, DoneFutureIsNotCancelled) {
  Future<int> f;
  f.set_result(3);
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.result(), 3);
  Future<void> g;
  g.set_exception(std::make_exception_ptr(std::runtime_error("boom")));
  EXPECT_FALSE(g.cancel());
  EXPECT_FALSE(g.cancelled());
  EXPECT_THROW(g.result(), std::runtime_error);
}

TEST(FutureCancelTest, CancelFromItsOwnDoneCallbackIsHarmless) {
  Future<void> f;
  bool second = true;
  f.add_done_callback([&](Future<void> d) { second = d.cancel(); });
  EXPECT_TRUE(f.cancel());
  EXPECT_FALSE(second);
}

TEST(FutureCancelTest, CancelledFutureIsNeverLoggedAsUnretrieved) {
  std::vector<std::string> log;
  logging::ScopedSink sink([&](logging::Level, std::string_view s) { log.emplace_back(s); });
  {
    Future<int> f;
    f.cancel();
  }
  EXPECT_TRUE(log.empty()) << log.front();
  {
    // A CancelledError set by hand is a cancellation too.
    Future<int> f;
    f.set_exception(std::make_exception_ptr(CancelledError()));
    EXPECT_TRUE(f.cancelled());
  }
  EXPECT_TRUE(log.empty());
}

TEST(FutureCancelTest, ChainFutureCancelsTheTarget) {
  Future<int> a, b;
  chain_future(a, b);
  a.cancel();
  EXPECT_TRUE(b.cancelled());
}

// ---- sleep ---------------------------------------------------------------------------

TEST_F(CancelTest, CancellingASleepRemovesItsTimerAtOnce) {
  Future<void> s = gen::sleep(1h);
  EXPECT_EQ(loop_.pending_timeouts(), 1u);
  EXPECT_TRUE(s.cancel());
  EXPECT_TRUE(s.cancelled());
  EXPECT_EQ(loop_.pending_timeouts(), 0u);
}

TEST_F(CancelTest, SleepFiringAfterCancelIsHarmless) {
  Future<void> s = gen::sleep(0ms);
  EXPECT_TRUE(s.cancel());
  run_once();
  run_once();
  EXPECT_TRUE(s.cancelled());
  EXPECT_TRUE(log_.empty());
}

TEST_F(CancelTest, SleepOutlivingItsLoopCanBeCancelled) {
  Future<void> s;
  {
    IOLoop other;
    other.make_current();
    s = gen::sleep(1h);
    other.close();
  }
  loop_.make_current();
  EXPECT_TRUE(s.cancel());  // the hook went with the loop's timer
  EXPECT_TRUE(s.cancelled());
}

// ---- coroutines ------------------------------------------------------------------------

Future<int> sleeper(std::vector<std::string>* trace) {
  try {
    co_await gen::sleep(1h);
    trace->push_back("woke");
  } catch (const CancelledError&) {
    trace->push_back("cancelled");
    throw;
  }
  co_return 1;
}

// Follows test_cancel_yield / test_cancel_inner_future.
TEST_F(CancelTest, CancelASuspendedCoroutineDeliversAtItsCoAwait) {
  std::vector<std::string> trace;
  Future<int> f = sleeper(&trace);
  EXPECT_EQ(loop_.pending_timeouts(), 1u);
  EXPECT_TRUE(f.cancel());
  // Never inline: the coroutine has not run yet, but its sleep is gone.
  EXPECT_TRUE(trace.empty());
  EXPECT_FALSE(f.done());
  EXPECT_EQ(loop_.pending_timeouts(), 0u);
  run_until_done(f);
  EXPECT_EQ(trace, std::vector<std::string>{"cancelled"});
  EXPECT_TRUE(f.cancelled());
}

Future<int> catches_and_returns() {
  try {
    co_await gen::sleep(1h);
  } catch (const CancelledError&) {
    co_return 42;
  }
  co_return 0;
}

// Follows test_cancel_task_catching.
TEST_F(CancelTest, CoroutineCatchingCancelledErrorCompletesAsItsBodyDoes) {
  Future<int> f = catches_and_returns();
  EXPECT_TRUE(f.cancel());
  run_until_done(f);
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.result(), 42);
}

Future<int> parent_of(Future<int> child) {
  int v = co_await child;
  co_return v + 1;
}

// Follows test_cancel_both_task_and_inner_future / test_cancel_task_ignoring:
// the parent gets what the child made of the cancellation.
TEST_F(CancelTest, CancellationReachesTheChildAndTheParentGetsItsOutcome) {
  Future<int> child = catches_and_returns();
  Future<int> parent = parent_of(child);
  EXPECT_TRUE(parent.cancel());
  run_until_done(parent);
  EXPECT_EQ(child.result(), 42);
  EXPECT_FALSE(parent.cancelled());
  EXPECT_EQ(parent.result(), 43);
}

TEST_F(CancelTest, CancellationUnwindsAChain) {
  std::vector<std::string> trace;
  Future<int> leaf = sleeper(&trace);
  Future<int> mid = parent_of(leaf);
  Future<int> top = parent_of(mid);
  EXPECT_TRUE(top.cancel());
  run_until_done(top);
  EXPECT_TRUE(leaf.cancelled());
  EXPECT_TRUE(mid.cancelled());
  EXPECT_TRUE(top.cancelled());
  EXPECT_EQ(trace, std::vector<std::string>{"cancelled"});
  EXPECT_EQ(loop_.pending_timeouts(), 0u);
}

Future<void> self_cancelling(Future<void>* self, bool* after) {
  co_await gen::moment;
  EXPECT_TRUE(self->cancel());
  *after = true;  // not delivered inline
  co_await gen::sleep(1h);
  ADD_FAILURE() << "the cancellation was not delivered";
}

// Follows test_cancel_current_task.
TEST_F(CancelTest, CancelWhileRunningIsDeliveredAtTheNextCoAwait) {
  Future<void> self;
  bool after = false;
  self = self_cancelling(&self, &after);
  run_until_done(self);
  EXPECT_TRUE(after);
  EXPECT_TRUE(self.cancelled());
  EXPECT_EQ(loop_.pending_timeouts(), 0u);
}

Future<int> cancels_self_then_returns(Future<int>* self) {
  co_await gen::moment;
  self->cancel();
  co_return 5;
}

// asyncio's rule: a cancel requested while running and never delivered at
// a co_await ends the coroutine cancelled.
TEST_F(CancelTest, CancelNeverDeliveredEndsTheCoroutineCancelled) {
  Future<int> self;
  self = cancels_self_then_returns(&self);
  run_until_done(self);
  EXPECT_TRUE(self.cancelled());
}

Future<int> awaits(Future<int> f) { co_return co_await f; }
Future<void> awaits_void(Future<void> f) { co_await f; }

// Cancelled after the awaited future completed but before resuming:
// CancelledError, not the result.
TEST_F(CancelTest, CancelAfterTheAwaitedFutureIsDoneStillCancels) {
  Future<int> plain;
  Future<int> f = awaits(plain);
  plain.set_result(7);  // its resumption is queued
  EXPECT_TRUE(f.cancel());
  EXPECT_FALSE(plain.cancelled());
  run_until_done(f);
  EXPECT_TRUE(f.cancelled());
}

TEST_F(CancelTest, CancelOnAMomentIsDelivered) {
  Future<void> f = []() -> Future<void> {
    co_await gen::moment;
    co_await gen::moment;
  }();
  EXPECT_TRUE(f.cancel());
  run_until_done(f);
  EXPECT_TRUE(f.cancelled());
}

TEST_F(CancelTest, CancelTwiceAndAfterDoneIsHarmless) {
  std::vector<std::string> trace;
  Future<int> f = sleeper(&trace);
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(f.cancel());
  run_until_done(f);
  EXPECT_FALSE(f.cancel());
  EXPECT_EQ(trace.size(), 1u);
  EXPECT_TRUE(f.cancelled());
}

TEST_F(CancelTest, ExceptionEscapingACancelledCoroutineWins) {
  Future<void> f = []() -> Future<void> {
    try {
      co_await gen::sleep(1h);
    } catch (const CancelledError&) {
      throw std::runtime_error("cleanup failed");
    }
  }();
  f.cancel();
  run_until_done(f);
  EXPECT_FALSE(f.cancelled());
  EXPECT_THROW(f.result(), std::runtime_error);
}

TEST_F(CancelTest, CancelAfterTheLoopClosedSchedulesAndLogsNothing) {
  std::vector<std::string> trace;
  Future<int> f;
  {
    IOLoop other;
    other.make_current();
    f = sleeper(&trace);
    other.close();  // destroys the frame: f stays pending
  }
  loop_.make_current();
  EXPECT_FALSE(f.done());
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(trace.empty());
  EXPECT_TRUE(log_.empty());
}

Future<void> slow_cleanup() {
  try {
    co_await gen::sleep(1h);
  } catch (const CancelledError&) {
  }
  co_await gen::sleep(1h);  // cleanup that takes a while
}

TEST_F(CancelTest, DumpShowsACoroutineAskedToCancel) {
  Future<void> f = slow_cleanup();
  std::ostringstream before;
  gen::dump_coroutines(before, loop_);
  EXPECT_EQ(before.str().find("(cancelling)"), std::string::npos) << before.str();
  f.cancel();
  run_once();
  run_once();
  EXPECT_FALSE(f.done());
  std::ostringstream during;
  EXPECT_EQ(gen::dump_coroutines(during, loop_), 1u);
  EXPECT_NE(during.str().find("slow_cleanup"), std::string::npos) << during.str();
  EXPECT_NE(during.str().find("(cancelling)"), std::string::npos) << during.str();
}

TEST_F(CancelTest, ACancelledBackgroundCoroutineIsNotLogged) {
  Future<void> gate;
  loop_.spawn_callback([gate]() -> Future<void> { co_await gate; });
  loop_.add_callback([gate]() -> Future<void> { co_await gate; });
  run_once();
  gate.cancel();  // both coroutines end cancelled
  for (int i = 0; i < 4; ++i) run_once();
  EXPECT_EQ(loop_.suspended_coroutines(), 0u);
  EXPECT_TRUE(log_.empty()) << log_.front();
}

// ---- IOLoop::shutdown -------------------------------------------------------------

struct Flag {
  bool* set;
  ~Flag() { *set = true; }
};

Future<void> with_cleanup(bool* caught, bool* destroyed) {
  Flag f{destroyed};
  bool cancelled = false;
  try {
    co_await gen::sleep(1h);
  } catch (const CancelledError&) {
    *caught = true;
    cancelled = true;
  }
  if (cancelled) {
    co_await gen::sleep(1ms);  // cleanup may still await
    throw CancelledError();
  }
}

TEST_F(CancelTest, ShutdownUnwindsSuspendedCoroutines) {
  bool caught[3] = {}, destroyed[3] = {};
  std::vector<Future<void>> fs;
  for (int i = 0; i < 3; ++i) fs.push_back(with_cleanup(&caught[i], &destroyed[i]));
  Future<void> parent = awaits_void(fs[0]);
  EXPECT_EQ(loop_.suspended_coroutines(), 4u);
  EXPECT_EQ(loop_.shutdown(5s), 0u);
  EXPECT_TRUE(loop_.closed());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(caught[i]);
    EXPECT_TRUE(destroyed[i]);
    EXPECT_TRUE(fs[i].cancelled());
  }
  EXPECT_TRUE(parent.cancelled());
}

TEST_F(CancelTest, ShutdownGivesUpAfterTheGracePeriod) {
  Future<void> stubborn = []() -> Future<void> {
    for (;;) {
      try {
        co_await gen::sleep(1h);
      } catch (const CancelledError&) {
      }
    }
  }();
  EXPECT_EQ(loop_.shutdown(20ms), 1u);
  EXPECT_TRUE(loop_.closed());
  EXPECT_FALSE(stubborn.done());
  ASSERT_FALSE(log_.empty());
  EXPECT_NE(log_.back().find("still suspended"), std::string::npos);
  EXPECT_EQ(loop_.shutdown(), 0u);  // closed: nothing to do
}

// ---- wait_for --------------------------------------------------------------------

// Follows test_waitfor.py test_wait_for_timeout_less_then_0_or_0 / test_wait_for.
TEST_F(CancelTest, WaitForCancelsOnTimeoutAndRaisesTimeoutError) {
  std::vector<std::string> trace;
  Future<int> inner = sleeper(&trace);
  Future<int> w = gen::wait_for(10ms, inner);
  run_until_done(w);
  EXPECT_THROW(w.result(), TimeoutError);
  EXPECT_TRUE(inner.cancelled());
  EXPECT_EQ(trace, std::vector<std::string>{"cancelled"});
  EXPECT_EQ(loop_.pending_timeouts(), 0u);
}

TEST_F(CancelTest, WaitForGivesTheResultInTime) {
  Future<int> inner = []() -> Future<int> {
    co_await gen::sleep(1ms);
    co_return 9;
  }();
  Future<int> w = gen::wait_for(10s, inner);
  run_until_done(w);
  EXPECT_EQ(w.result(), 9);
  EXPECT_EQ(loop_.pending_timeouts(), 0u);  // its timer is gone
}

// Follows test_waitfor.py test_wait_for_cancellation_race_condition-ish:
// the inner future catches the cancellation and returns a value.
TEST_F(CancelTest, WaitForGivesTheInnerOutcomeWhenItSwallowsTheCancellation) {
  Future<int> w = gen::wait_for(1ms, catches_and_returns());
  run_until_done(w);
  EXPECT_EQ(w.result(), 42);
}

// Follows test_waitfor.py test_wait_for_self_cancellation /
// test_cancel_wait_for.
TEST_F(CancelTest, CancellingWaitForCancelsTheInnerAndWaitsForIt) {
  std::vector<std::string> trace;
  Future<int> inner = sleeper(&trace);
  Future<int> w = gen::wait_for(1h, inner);
  EXPECT_TRUE(w.cancel());
  run_until_done(w);
  EXPECT_TRUE(w.cancelled());
  EXPECT_TRUE(inner.cancelled());
  EXPECT_EQ(loop_.pending_timeouts(), 0u);
}

TEST_F(CancelTest, WaitForDoneFutureIsReturned) {
  Future<int> f = make_ready_future(3);
  EXPECT_EQ(gen::wait_for(0ms, f), f);
}

// ---- shield --------------------------------------------------------------------------

// Follows test_shield_result / test_shield_cancel_outer.
TEST_F(CancelTest, ShieldProtectsTheInnerFuture) {
  std::vector<std::string> trace;
  Future<int> inner = []() -> Future<int> {
    co_await gen::sleep(5ms);
    co_return 8;
  }();
  Future<int> outer = awaits(gen::shield(inner));
  EXPECT_TRUE(outer.cancel());
  run_until_done(outer);
  EXPECT_TRUE(outer.cancelled());
  EXPECT_FALSE(inner.done());
  run_until_done(inner);
  EXPECT_EQ(inner.result(), 8);
}

// Follows test_shield_cancel_inner.
TEST_F(CancelTest, ShieldFollowsAnInnerCancellation) {
  Future<int> inner;
  Future<int> s = gen::shield(inner);
  inner.cancel();
  EXPECT_TRUE(s.cancelled());
}

// ---- multi ------------------------------------------------------------------------------

// Follows test_gather's cancellation cases (test_one_cancellation).
TEST_F(CancelTest, CancellingMultiCancelsEveryChild) {
  std::vector<std::string> trace;
  std::vector<Future<int>> kids{sleeper(&trace), sleeper(&trace), make_ready_future(1)};
  Future<std::vector<int>> m = gen::multi(kids);
  EXPECT_TRUE(m.cancel());
  EXPECT_FALSE(m.done());  // waits for the children
  run_until_done(m);
  EXPECT_TRUE(m.cancelled());
  EXPECT_TRUE(kids[0].cancelled());
  EXPECT_TRUE(kids[1].cancelled());
  EXPECT_EQ(trace.size(), 2u);
  EXPECT_EQ(loop_.pending_timeouts(), 0u);
}

TEST_F(CancelTest, CancellingACoroutineAwaitingMultiReachesTheChildren) {
  std::vector<std::string> trace;
  Future<void> f = [](std::vector<std::string>* t) -> Future<void> {
    co_await gen::multi(sleeper(t), sleeper(t));
  }(&trace);
  f.cancel();
  run_until_done(f);
  EXPECT_TRUE(f.cancelled());
  EXPECT_EQ(trace.size(), 2u);
}

TEST_F(CancelTest, MultiDoesNotLogCancelledChildrenAsErrors) {
  Future<int> a, b;
  Future<std::vector<int>> m = gen::multi(std::vector<Future<int>>{a, b});
  a.set_exception(std::make_exception_ptr(std::runtime_error("first")));
  b.cancel();
  EXPECT_THROW(m.result(), std::runtime_error);
  EXPECT_TRUE(log_.empty()) << log_.front();
}

// ---- TaskGroup ----------------------------------------------------------------------

Future<int> fails_after(std::chrono::milliseconds d) {
  co_await gen::sleep(d);
  throw std::runtime_error("child failed");
}

// Follows test_taskgroups.py test_taskgroup_01 / _02.
TEST_F(CancelTest, TaskGroupJoinsEveryChild) {
  gen::TaskGroup group;
  Future<int> a = group.spawn([]() -> Future<int> {
    co_await gen::sleep(1ms);
    co_return 1;
  }());
  Future<int> b = group.spawn(make_ready_future(2));
  Future<void> j = group.join();
  run_until_done(j);
  j.result();
  EXPECT_EQ(a.result(), 1);
  EXPECT_EQ(b.result(), 2);
  EXPECT_EQ(group.running(), 0u);
}

// Follows test_taskgroups.py test_taskgroup_03 / _05.
TEST_F(CancelTest, TaskGroupFirstFailureCancelsTheOthers) {
  std::vector<std::string> trace;
  gen::TaskGroup group;
  Future<int> slow = group.spawn(sleeper(&trace));
  Future<int> bad = group.spawn(fails_after(1ms));
  Future<void> j = group.join();
  run_until_done(j);
  EXPECT_THROW(j.result(), std::runtime_error);
  EXPECT_TRUE(slow.cancelled());
  EXPECT_EQ(trace, std::vector<std::string>{"cancelled"});
  // Failing: a new child is cancelled at once.
  std::vector<std::string> trace2;
  Future<int> late = group.spawn(sleeper(&trace2));
  EXPECT_FALSE(late.done());  // a coroutine is asked, and finishes later
  run_until_done(late);
  EXPECT_TRUE(late.cancelled());
}

// Follows test_taskgroups.py test_taskgroup_08 (cancel the parent).
TEST_F(CancelTest, CancellingJoinCancelsEveryChild) {
  std::vector<std::string> trace;
  gen::TaskGroup group;
  for (int i = 0; i < 3; ++i) static_cast<void>(group.spawn(sleeper(&trace)));
  Future<void> parent = awaits_void(group.join());
  EXPECT_TRUE(parent.cancel());
  run_until_done(parent);
  EXPECT_TRUE(parent.cancelled());
  EXPECT_EQ(trace.size(), 3u);
  EXPECT_EQ(group.running(), 0u);
}

TEST_F(CancelTest, DestroyingATaskGroupCancelsItsChildren) {
  std::vector<std::string> trace;
  Future<int> child;
  {
    gen::TaskGroup group;
    child = group.spawn(sleeper(&trace));
  }
  run_until_done(child);
  EXPECT_TRUE(child.cancelled());
  EXPECT_EQ(trace, std::vector<std::string>{"cancelled"});
}

TEST_F(CancelTest, ACancelledChildIsNotAFailure) {
  gen::TaskGroup group;
  std::vector<std::string> trace;
  Future<int> a = group.spawn(sleeper(&trace));
  Future<int> b = group.spawn([]() -> Future<int> {
    co_await gen::sleep(2ms);
    co_return 2;
  }());
  a.cancel();
  Future<void> j = group.join();
  run_until_done(j);
  EXPECT_NO_THROW(j.result());
  EXPECT_EQ(b.result(), 2);
}

TEST_F(CancelTest, SpawnAfterJoinCancelsTheChild) {
  gen::TaskGroup group;
  Future<void> j = group.join();
  EXPECT_TRUE(j.done());
  Future<int> c;
  EXPECT_EQ(group.spawn(c), c);
  EXPECT_TRUE(c.cancelled());
}

TEST_F(CancelTest, TenThousandChildrenWithoutDeepRecursion) {
  gen::TaskGroup group;
  std::vector<Future<void>> plain(10000);
  for (auto& f : plain) static_cast<void>(group.spawn(f));
  Future<void> j = group.join();
  // One failure cancels 9,999 plain futures, each completing inline.
  plain[5000].set_exception(std::make_exception_ptr(std::runtime_error("x")));
  ASSERT_TRUE(j.done());
  EXPECT_THROW(j.result(), std::runtime_error);
  size_t cancelled = 0;
  for (auto& f : plain) cancelled += f.cancelled();
  EXPECT_EQ(cancelled, 9999u);
}

}  // namespace
}  // namespace tornado
