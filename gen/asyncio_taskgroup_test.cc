// gen::TaskGroup tests ported from CPython's asyncio test suite
// (Lib/test/test_asyncio/test_taskgroups.py), rewritten in C++ for our
// eagerly started coroutines. Each TEST names the asyncio test it follows.
// Times are scaled down (asyncio's 0.1 s is 10 ms here) where only their
// order matters.
//
// How the shapes map: asyncio's `async with TaskGroup() as g: <body>` is a
// coroutine with a local `gen::TaskGroup g`, `g.spawn(...)` for
// create_task, and `co_await g.join()` for the end of the block. Two
// deliberate differences (gen/task_group.h):
//   - A group does not cancel the coroutine that owns it: a failing child
//     cancels its siblings, and the owner learns of the failure at join().
//     (asyncio cancels the body's task too.)
//   - A body that leaves by an exception (cancelled, or raising) destroys
//     the group, which cancels the children and does not wait for them: its
//     future completes before they have finished. (asyncio's __aexit__
//     waits; C++ cannot co_await in a destructor or a catch block.)
//
// Already covered by gen/cancel_test.cc (not repeated here):
// test_taskgroup_01/_02 (join), _03 (a child cancelled explicitly is not a
// failure), _04 (the first failure cancels the others), test_cancellation
// and _22 (cancelling the join cancels the children).
//
// Not applicable (and why):
//   - ExceptionGroup: join() rethrows the first failure, later ones are
//     logged (as multi); so _13/_14's nesting of groups of errors, and the
//     error-type sets of every test, have no counterpart.
//   - Cancel messages (test_cancellation's and test_cancellation_in_body's
//     cm.exception.args).
//   - The body cancelled by a failing child (test_cancel_children_on_child_error's
//     runner_cancel, _11, _13, _19): see the first difference above.
//   - _17/_18 (the body alone, with no children, cancelled or raising in
//     its handler): nothing of the group is involved; gen/cancel_test.cc
//     covers a coroutine catching and re-raising.
//   - _20/_20a/_21/_21a (KeyboardInterrupt, BaseException subclasses): C++
//     has no BaseException/Exception split.
//   - _23 (g._tasks shrinks as children finish) and test_taskgroup_task_name:
//     no cancellation involved; running() is tested in gen/cancel_test.cc.
//   - test_taskgroup_without_parent_task: a group needs no parent coroutine.

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tornado/gen/gen.h"
#include "tornado/testing/async_test.h"
#include "tornado/testing/run_loop.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

class AsyncioTaskGroupTest : public tornado::testing::AsyncTest {
 protected:
  template <class Pred>
  void run_until_true(Pred p) {
    tornado::testing::run_until(loop(), p);
    ASSERT_TRUE(p());
  }
};

struct ZeroDivisionError : std::runtime_error {
  ZeroDivisionError() : std::runtime_error("division by zero") {}
};

Future<void> fails_after(IOLoop::duration d) {
  co_await gen::sleep(d);
  throw ZeroDivisionError();
}

// Counts a cancellation and re-raises it (asyncio's foo/foo2).
Future<void> counts_cancel(IOLoop::duration d, int* num_cancelled, int* num_done) {
  try {
    co_await gen::sleep(d);
  } catch (const CancelledError&) {
    ++*num_cancelled;
    throw;
  }
  ++*num_done;
}

// Follows test_taskgroups.py test_cancel_children_on_child_error: three
// children fail at the same deadline, one sleeps long. The first failure
// cancels the others; join() rethrows it. The other two failing children
// were resumable when cancelled: they get CancelledError instead of going
// on (asyncio calls this race "racy when the host is busy"), so at most
// two "Multiple exceptions" lines. Not ported: the body's cancellation.
TEST_F(AsyncioTaskGroupTest, CancelChildrenOnChildError) {
  tornado::testing::ExpectLog expect(*this, "Multiple exceptions in yield list", 0);
  int t2_cancel = 0, num = 0;
  Future<void> runner = [](int* t2_cancel, int* num) -> Future<void> {
    gen::TaskGroup g;
    static_cast<void>(g.spawn(fails_after(10ms)));
    static_cast<void>(g.spawn(fails_after(10ms)));
    static_cast<void>(g.spawn(fails_after(10ms)));
    static_cast<void>(g.spawn(counts_cancel(5s, t2_cancel, num)));
    co_await g.join();
    *num += 10;
  }(&t2_cancel, &num);
  run_until_done(runner);
  EXPECT_THROW(runner.result(), ZeroDivisionError);
  EXPECT_EQ(num, 0);
  EXPECT_EQ(t2_cancel, 1);
  EXPECT_LE(expect.count(), 2);
}

// Sleeps long, and counts its cancellation by 10 before re-raising it (no
// co_await in a C++ handler, so the flag-and-rethrow shape).
Future<void> body_sleeps(int* num) {
  bool cancelled = false;
  try {
    co_await gen::sleep(10s);
  } catch (const CancelledError&) {
    cancelled = true;
  }
  if (cancelled) {
    *num += 10;
    throw CancelledError();
  }
}

Future<void> runner_07(int* num) {
  gen::TaskGroup g;
  for (int i = 0; i < 5; ++i) static_cast<void>(g.spawn(counts_cancel(5s, num, num)));
  co_await body_sleeps(num);
  co_await g.join();
}

// Follows test_taskgroups.py test_taskgroup_07: the body is cancelled while
// awaiting something else than join(); leaving it destroys the group,
// which cancels the five children. Deliberate difference: the runner's
// future completes before the children have finished (nothing waits in a
// destructor); they finish in the next iterations.
TEST_F(AsyncioTaskGroupTest, BodyCancelledCancelsTheChildren) {
  int num = 0;
  Future<void> r = runner_07(&num);
  tornado::testing::run_for(loop(), 10ms);
  EXPECT_FALSE(r.done());
  EXPECT_TRUE(r.cancel());
  run_until_done(r);
  EXPECT_TRUE(r.cancelled());
  run_until_true([&] { return num == 15; });
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

Future<int> sleeps_then(IOLoop::duration d, int v) {
  co_await gen::sleep(d);
  co_return v;
}

// Follows test_taskgroups.py test_taskgroup_09 (the body raises after a
// sleep) and test_taskgroup_10 (at once: with eager start the children
// are already suspended on their sleeps): the children end cancelled.
TEST_F(AsyncioTaskGroupTest, BodyRaisingCancelsTheChildren) {
  for (bool sleep_first : {true, false}) {
    SCOPED_TRACE(sleep_first);
    Future<int> t1, t2;
    Future<void> r = [](bool sleep_first, Future<int>* t1, Future<int>* t2) -> Future<void> {
      gen::TaskGroup g;
      *t1 = g.spawn(sleeps_then(1s, 42));
      *t2 = g.spawn(sleeps_then(2s, 11));
      if (sleep_first) co_await gen::sleep(10ms);
      throw ZeroDivisionError();
    }(sleep_first, &t1, &t2);
    run_until_done(r);
    EXPECT_THROW(r.result(), ZeroDivisionError);
    run_until_true([&] { return t1.done() && t2.done(); });
    EXPECT_TRUE(t1.cancelled());
    EXPECT_TRUE(t2.cancelled());
  }
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

// Follows test_taskgroups.py test_taskgroup_12: nested groups; the outer
// one has a long child, the inner one children that would fail later; the
// runner is cancelled while joining the inner group: its children are
// cancelled before they fail, the runner ends cancelled (not with their
// failure), and leaving the runner cancels the outer group's child.
TEST_F(AsyncioTaskGroupTest, NestedGroupsCancelledWhileJoiningTheInner) {
  Future<int> outer_child;
  std::vector<Future<void>> inner_children;
  Future<void> r = [](Future<int>* outer_child,
                      std::vector<Future<void>>* inner_children) -> Future<void> {
    gen::TaskGroup g1;
    *outer_child = g1.spawn(sleeps_then(10s, 1));
    gen::TaskGroup g2;
    for (int i = 0; i < 5; ++i) inner_children->push_back(g2.spawn(fails_after(50ms)));
    co_await g2.join();
    co_await g1.join();
  }(&outer_child, &inner_children);
  tornado::testing::run_for(loop(), 10ms);
  EXPECT_FALSE(r.done());
  EXPECT_TRUE(r.cancel());
  run_until_done(r);
  EXPECT_TRUE(r.cancelled());
  for (const auto& c : inner_children) EXPECT_TRUE(c.cancelled());
  run_until_done(outer_child);
  EXPECT_TRUE(outer_child.cancelled());
}

Future<void> runner_15(bool* crashed) {
  gen::TaskGroup g;
  Future<void> crash = g.spawn(fails_after(30ms));
  bool cancelled = false;
  try {
    co_await gen::sleep(10s);
  } catch (const CancelledError&) {
    cancelled = true;
  }
  if (cancelled) {
    co_await gen::sleep(50ms);  // the child crashes meanwhile
    *crashed = crash.done();
    throw CancelledError();
  }
}

// Follows test_taskgroups.py test_taskgroup_15 (and _16, the same runner
// behind one more coroutine): the body, cancelled, takes a while to
// re-raise; a child crashes meanwhile. The runner ends cancelled. Its
// group is never joined, so nobody would hear of the child's failure: it
// is logged when the group goes (asyncio's __aexit__ always sees it).
TEST_F(AsyncioTaskGroupTest, ChildCrashingWhileTheCancelledBodyFinishes) {
  tornado::testing::ExpectLog expect(*this, "without join()");
  bool crashed = false;
  Future<void> nested = runner_15(&crashed);
  Future<void> r = [](Future<void> t) -> Future<void> { co_await t; }(nested);
  tornado::testing::run_for(loop(), 10ms);
  EXPECT_FALSE(r.done());
  EXPECT_TRUE(r.cancel());
  run_until_done(r);
  EXPECT_TRUE(crashed);
  EXPECT_TRUE(nested.cancelled());
  EXPECT_TRUE(r.cancelled());
}

Future<void> sleep_for(IOLoop::duration d) { co_await gen::sleep(d); }

Future<void> root_spawns(gen::TaskGroup* g, std::vector<Future<void>>* spawned) {
  co_await gen::sleep(10ms);
  spawned->push_back(g->spawn(sleep_for(10ms)));
  spawned->push_back(g->spawn(sleep_for(20ms)));
}

// Follows test_taskgroups.py test_taskgroup_24: a child spawns into the
// group while join() is pending; join waits for those too.
TEST_F(AsyncioTaskGroupTest, ChildSpawnsIntoThePendingJoin) {
  std::vector<Future<void>> spawned;
  gen::TaskGroup g;
  static_cast<void>(g.spawn(root_spawns(&g, &spawned)));
  Future<void> j = g.join();
  run_until_done(j);
  EXPECT_NO_THROW(j.result());
  ASSERT_EQ(spawned.size(), 2u);
  EXPECT_TRUE(spawned[0].done());
  EXPECT_TRUE(spawned[1].done());
  EXPECT_EQ(g.running(), 0u);
}

Future<void> hydra(gen::TaskGroup* g, int* nhydras) {
  ++*nhydras;
  co_await gen::sleep(1ms);
  // A bound (hercules fails long before it), which also tells clang that
  // not every path recurses (-Winfinite-recursion, wrong for a coroutine).
  if (*nhydras > 100000) co_return;
  static_cast<void>(g->spawn(hydra(g, nhydras)));
  static_cast<void>(g->spawn(hydra(g, nhydras)));
}

Future<void> hercules(const int* nhydras) {
  while (*nhydras < 10) co_await gen::sleep(1500us);
  throw ZeroDivisionError();
}

// Follows test_taskgroups.py test_taskgroup_25: children keep spawning
// children; one fails; from then on the group is failing, so every new
// child is cancelled at once (spawn refuses it), and join() ends with the
// failure.
TEST_F(AsyncioTaskGroupTest, HydraStopsWhenHerculesFails) {
  int nhydras = 0;
  Future<void> runner = [](int* nhydras) -> Future<void> {
    gen::TaskGroup g;
    static_cast<void>(g.spawn(hydra(&g, nhydras)));
    static_cast<void>(g.spawn(hercules(nhydras)));
    co_await g.join();
  }(&nhydras);
  run_until_done(runner);
  EXPECT_THROW(runner.result(), ZeroDivisionError);
  EXPECT_GE(nhydras, 10);
  // The refused hydras finish on the loop; none spawns again.
  tornado::testing::run_for(loop(), 5ms);
  const int settled = nhydras;
  tornado::testing::run_for(loop(), 5ms);
  EXPECT_EQ(nhydras, settled);
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

// Follows test_taskgroups.py test_coro_closed_when_tg_closed (3.12),
// adapted: asyncio refuses the coroutine of a finished group and closes it
// unstarted; ours has already run to its first suspension when spawn()
// sees it, so spawn cancels it, and it ends cancelled on the loop.
TEST_F(AsyncioTaskGroupTest, SpawnIntoAFinishedGroupCancelsTheCoroutine) {
  gen::TaskGroup g;
  Future<void> j = g.join();
  ASSERT_TRUE(j.done());
  int cancelled = 0, done = 0;
  Future<void> late = g.spawn(counts_cancel(1s, &cancelled, &done));
  run_until_done(late);
  EXPECT_TRUE(late.cancelled());
  EXPECT_EQ(cancelled, 1);
  EXPECT_EQ(done, 0);
}

// asyncio's TaskGroup.create_task raises "TaskGroup is shutting down" once
// the group is aborting, which its parent's cancellation starts
// (__aexit__ with CancelledError calls _abort()). Ours: once join() was
// cancelled, spawn cancels the new child at once, like a failing group's;
// otherwise the cancelled join would wait for a child never told to stop.
TEST_F(AsyncioTaskGroupTest, SpawnAfterJoinWasCancelledCancelsTheChild) {
  int cancelled = 0, done = 0;
  gen::TaskGroup g;
  static_cast<void>(g.spawn(counts_cancel(1h, &cancelled, &done)));
  Future<void> j = g.join();
  EXPECT_TRUE(j.cancel());
  Future<void> late = g.spawn(counts_cancel(1h, &cancelled, &done));
  run_until_done(j);
  EXPECT_TRUE(j.cancelled());
  run_until_done(late);
  EXPECT_TRUE(late.cancelled());
  EXPECT_EQ(cancelled, 2);
  EXPECT_EQ(done, 0);
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

Future<int> returns_when_cancelled() {
  try {
    co_await gen::sleep(1h);
  } catch (const CancelledError&) {
    co_return 5;
  }
  co_return 0;
}

Future<void> raises_when_cancelled() {
  try {
    co_await gen::sleep(1h);
  } catch (const CancelledError&) {
    throw std::logic_error("cleanup failed");
  }
}

// Follows test_taskgroups.py test_taskgroup_18, with the raise moved from
// the body into a child (the body is not part of our group): a cancelled
// join ends cancelled even if a child took the cancellation as a value,
// and ends with the failure of a child that raised instead of honouring it.
TEST_F(AsyncioTaskGroupTest, CancelledJoinOutcomes) {
  {
    gen::TaskGroup g;
    Future<int> c = g.spawn(returns_when_cancelled());
    Future<void> j = g.join();
    EXPECT_TRUE(j.cancel());
    run_until_done(j);
    EXPECT_TRUE(j.cancelled());
    EXPECT_EQ(c.result(), 5);
  }
  {
    gen::TaskGroup g;
    Future<int> c = g.spawn(returns_when_cancelled());
    Future<void> bad = g.spawn(raises_when_cancelled());
    Future<void> j = g.join();
    EXPECT_TRUE(j.cancel());
    run_until_done(j);
    EXPECT_FALSE(j.cancelled());
    EXPECT_THROW(j.result(), std::logic_error);
    EXPECT_EQ(c.result(), 5);
  }
}

// A group destroyed, never joined, after a child failed: the failure is
// logged (nobody else will see it: the group retrieved it from the child).
// A joined group does not log it: join() carries it.
TEST_F(AsyncioTaskGroupTest, UnjoinedFailureIsLogged) {
  {
    tornado::testing::ExpectLog expect(*this, "without join()");
    Future<void> child;
    {
      gen::TaskGroup g;
      child = g.spawn(fails_after(1ms));
      run_until_done(child);
    }
  }
  {
    gen::TaskGroup g;
    Future<void> child = g.spawn(fails_after(1ms));
    Future<void> j = g.join();
    run_until_done(j);
    EXPECT_THROW(j.result(), ZeroDivisionError);
  }
  for (const auto& line : log_lines()) {
    if (line.text.find("without join()") != std::string::npos) {
      EXPECT_NE(line.text.find("division by zero"), std::string::npos) << line.text;
    }
  }
}

}  // namespace
}  // namespace tornado
