// Cancellation crosses every awaitable: a coroutine suspended on each kind
// of future //gen offers is cancelled, and we check what reaches the
// awaitable, what happens to what is behind it, and that nothing is left
// behind (timers, log lines). The semantics are ../shared/API.md's; where
// one follows an asyncio test, it says so.
//
//   plain future, coroutine, gen::sleep, gen::moment: the awaited thing is
//     cancelled (a sleep's timer removed at once); the coroutine ends
//     cancelled.
//   gen::multi (vector, vector<void>, tuple): every child is cancelled; the
//     multi ends cancelled once they are done; nothing is logged.
//   gen::with_timeout: Tornado's meaning: its future is plain, so the
//     cancellation stops there; the inner future runs on; the timer goes.
//   gen::wait_for: the inner future is cancelled and awaited.
//   gen::shield: the shield is cancelled, the inner future runs on.
//   gen::WaitIterator: see the WaitIterator tests (the iterator stays usable).
//   gen::TaskGroup::join: every child is cancelled.

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

class CancelAwaitablesTest : public tornado::testing::AsyncTest {
 protected:
};

// Awaits `f`, recording how the co_await ended.
template <class T>
Future<void> awaiter(Future<T> f, std::string* how) {
  try {
    co_await f;
    *how = "value";
  } catch (const CancelledError&) {
    *how = "cancelled";
    throw;
  } catch (const std::exception& e) {
    *how = e.what();
    throw;
  }
}

Future<int> sleeper(IOLoop::duration d, int v, int* cancels) {
  try {
    co_await gen::sleep(d);
  } catch (const CancelledError&) {
    ++*cancels;
    throw;
  }
  co_return v;
}

TEST_F(CancelAwaitablesTest, PlainFuture) {
  std::string how;
  Future<int> f;
  Future<void> c = awaiter(f, &how);
  EXPECT_TRUE(c.cancel());
  EXPECT_TRUE(f.cancelled());
  run_until_done(c);
  EXPECT_EQ(how, "cancelled");
  EXPECT_TRUE(c.cancelled());
}

TEST_F(CancelAwaitablesTest, Coroutine) {
  std::string how;
  int cancels = 0;
  Future<int> child = sleeper(1h, 1, &cancels);
  Future<void> c = awaiter(child, &how);
  EXPECT_TRUE(c.cancel());
  EXPECT_EQ(loop().pending_timeouts(), 0u);  // down the chain, at once
  run_until_done(c);
  EXPECT_EQ(how, "cancelled");
  EXPECT_TRUE(child.cancelled());
  EXPECT_EQ(cancels, 1);
  EXPECT_TRUE(c.cancelled());
}

TEST_F(CancelAwaitablesTest, Sleep) {
  std::string how;
  Future<void> s = gen::sleep(1h);
  Future<void> c = awaiter(s, &how);
  EXPECT_EQ(loop().pending_timeouts(), 1u);
  EXPECT_TRUE(c.cancel());
  EXPECT_EQ(loop().pending_timeouts(), 0u);
  EXPECT_TRUE(s.cancelled());
  run_until_done(c);
  EXPECT_TRUE(c.cancelled());
}

TEST_F(CancelAwaitablesTest, Moment) {
  bool after = false;
  Future<void> c = [](bool* after) -> Future<void> {
    co_await gen::moment;
    *after = true;
  }(&after);
  EXPECT_TRUE(c.cancel());
  run_until_done(c);
  EXPECT_TRUE(c.cancelled());
  EXPECT_FALSE(after);
}

TEST_F(CancelAwaitablesTest, MultiVector) {
  std::string how;
  int cancels = 0;
  std::vector<Future<int>> kids{sleeper(1h, 1, &cancels), sleeper(1h, 2, &cancels),
                                make_ready_future(3)};
  Future<std::vector<int>> m = gen::multi(kids);
  Future<void> c = awaiter(m, &how);
  EXPECT_TRUE(c.cancel());
  EXPECT_EQ(loop().pending_timeouts(), 0u);
  EXPECT_FALSE(m.done());  // waits for its children
  run_until_done(c);
  EXPECT_EQ(how, "cancelled");
  EXPECT_TRUE(m.cancelled());
  EXPECT_TRUE(kids[0].cancelled());
  EXPECT_TRUE(kids[1].cancelled());
  EXPECT_EQ(kids[2].result(), 3);
  EXPECT_EQ(cancels, 2);
  // The fixture fails on any ERROR line: no "Multiple exceptions" for the
  // children's cancellations.
}

TEST_F(CancelAwaitablesTest, MultiVectorOfVoid) {
  std::string how;
  std::vector<Future<void>> kids{gen::sleep(1h), gen::sleep(1h)};
  Future<void> m = gen::multi(kids);
  Future<void> c = awaiter(m, &how);
  EXPECT_TRUE(c.cancel());
  EXPECT_EQ(loop().pending_timeouts(), 0u);
  run_until_done(c);
  EXPECT_TRUE(m.cancelled());
  EXPECT_TRUE(kids[0].cancelled());
  EXPECT_TRUE(kids[1].cancelled());
  EXPECT_TRUE(c.cancelled());
}

TEST_F(CancelAwaitablesTest, MultiTuple) {
  std::string how;
  int cancels = 0;
  Future<int> a = sleeper(1h, 1, &cancels);
  Future<std::string> b;
  Future<std::tuple<int, std::string>> m = gen::multi(a, b);
  Future<void> c = awaiter(m, &how);
  EXPECT_TRUE(c.cancel());
  EXPECT_TRUE(b.cancelled());
  EXPECT_EQ(loop().pending_timeouts(), 0u);
  run_until_done(c);
  EXPECT_EQ(how, "cancelled");
  EXPECT_TRUE(m.cancelled());
  EXPECT_TRUE(a.cancelled());
  EXPECT_EQ(cancels, 1);
}

// Tornado's with_timeout: its future is a plain one, so the cancellation
// ends there; the inner future runs on and finishes; the timer is gone at
// once (not at the deadline).
TEST_F(CancelAwaitablesTest, WithTimeoutStopsTheCancellation) {
  std::string how;
  int cancels = 0;
  Future<int> inner = sleeper(20ms, 7, &cancels);
  Future<int> wt = gen::with_timeout(1h, inner);
  Future<void> c = awaiter(wt, &how);
  EXPECT_EQ(loop().pending_timeouts(), 2u);  // the sleep's, the timeout's
  EXPECT_TRUE(c.cancel());
  EXPECT_TRUE(wt.cancelled());
  EXPECT_FALSE(inner.done());
  EXPECT_EQ(loop().pending_timeouts(), 1u);  // the inner sleep only
  run_until_done(c);
  EXPECT_TRUE(c.cancelled());
  run_until_done(inner);
  EXPECT_EQ(inner.result(), 7);
  EXPECT_EQ(cancels, 0);
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

// with_timeout timed out; the inner future is cancelled later by someone
// else: not logged as "Exception in Future after timeout" (a failure is).
TEST_F(CancelAwaitablesTest, WithTimeoutDoesNotLogALateCancellation) {
  Future<int> inner;
  Future<int> wt = gen::with_timeout(1ms, inner);
  run_until_done(wt);
  EXPECT_THROW(wt.result(), TimeoutError);
  EXPECT_TRUE(inner.cancel());
  Future<int> inner2;
  Future<int> wt2 = gen::with_timeout(1ms, inner2);
  run_until_done(wt2);
  EXPECT_THROW(wt2.result(), TimeoutError);
  tornado::testing::ExpectLog expect(*this, "Exception in Future after timeout");
  inner2.set_exception(std::make_exception_ptr(std::runtime_error("late")));
}

TEST_F(CancelAwaitablesTest, WaitFor) {
  std::string how;
  int cancels = 0;
  Future<int> inner = sleeper(1h, 1, &cancels);
  Future<int> w = gen::wait_for(1h, inner);
  Future<void> c = awaiter(w, &how);
  EXPECT_TRUE(c.cancel());
  run_until_done(c);
  EXPECT_EQ(how, "cancelled");
  EXPECT_TRUE(w.cancelled());
  EXPECT_TRUE(inner.cancelled());
  EXPECT_EQ(cancels, 1);
  EXPECT_EQ(loop().pending_timeouts(), 0u);  // wait_for's deadline too
}

TEST_F(CancelAwaitablesTest, Shield) {
  std::string how;
  int cancels = 0;
  Future<int> inner = sleeper(10ms, 4, &cancels);
  Future<int> s = gen::shield(inner);
  Future<void> c = awaiter(s, &how);
  EXPECT_TRUE(c.cancel());
  EXPECT_TRUE(s.cancelled());
  run_until_done(c);
  EXPECT_TRUE(c.cancelled());
  EXPECT_FALSE(inner.done());
  run_until_done(inner);
  EXPECT_EQ(inner.result(), 4);
  EXPECT_EQ(cancels, 0);
}

TEST_F(CancelAwaitablesTest, TaskGroupJoin) {
  std::string how;
  int cancels = 0;
  gen::TaskGroup g;
  Future<int> a = g.spawn(sleeper(1h, 1, &cancels));
  Future<int> b = g.spawn(sleeper(1h, 2, &cancels));
  Future<void> c = awaiter(g.join(), &how);
  EXPECT_TRUE(c.cancel());
  run_until_done(c);
  EXPECT_EQ(how, "cancelled");
  EXPECT_TRUE(a.cancelled());
  EXPECT_TRUE(b.cancelled());
  EXPECT_EQ(cancels, 2);
  EXPECT_EQ(g.running(), 0u);
}

// Every awaitable at once, nested: a coroutine awaits a multi of a
// wait_for of a coroutine on a sleep, a shield of a plain future, and a
// join of a group with a sleeping child. One cancel unwinds all of it.
TEST_F(CancelAwaitablesTest, NestedChainUnwindsEverything) {
  std::string how;
  int cancels = 0;
  Future<int> deep = sleeper(1h, 1, &cancels);
  Future<int> shielded;
  gen::TaskGroup g;
  Future<int> grouped = g.spawn(sleeper(1h, 2, &cancels));
  Future<void> joined = g.join();
  Future<int> w = gen::wait_for(1h, deep);
  Future<int> s = gen::shield(shielded);
  Future<std::tuple<int, int>> m = gen::multi(w, s);
  std::vector<Future<void>> rest{joined};
  Future<void> m2 = gen::multi(rest);
  Future<void> c = [](Future<std::tuple<int, int>> m, Future<void> m2,
                      std::string* how) -> Future<void> {
    co_await awaiter(m, how);
    co_await m2;
  }(m, m2, &how);
  EXPECT_TRUE(c.cancel());
  run_until_done(c);
  EXPECT_TRUE(c.cancelled());
  EXPECT_EQ(how, "cancelled");
  EXPECT_TRUE(m.cancelled());
  EXPECT_TRUE(w.cancelled());
  EXPECT_TRUE(deep.cancelled());
  EXPECT_TRUE(s.cancelled());
  EXPECT_FALSE(shielded.done());  // shielded
  // m2 was never awaited: the group runs on until it is cancelled itself.
  EXPECT_FALSE(grouped.done());
  EXPECT_EQ(cancels, 1);
  EXPECT_TRUE(m2.cancel());
  run_until_done(m2);
  EXPECT_TRUE(grouped.cancelled());
  EXPECT_EQ(cancels, 2);
  EXPECT_EQ(loop().pending_timeouts(), 0u);
}

// The window between "the awaited future is done" and "the coroutine
// resumed": a cancel there gives CancelledError, not the result, whatever
// the awaitable (API.md).
TEST_F(CancelAwaitablesTest, CancelAfterTheAwaitableIsDone) {
  {
    std::string how;
    Future<int> a, b;
    Future<std::tuple<int, int>> m = gen::multi(a, b);
    Future<void> c = awaiter(m, &how);
    a.set_result(1);
    b.set_result(2);  // m done; c's resumption queued
    ASSERT_TRUE(m.done());
    EXPECT_TRUE(c.cancel());
    run_until_done(c);
    EXPECT_TRUE(c.cancelled());
    EXPECT_EQ(how, "cancelled");
  }
  {
    std::string how;
    Future<int> inner;
    Future<int> w = gen::with_timeout(1h, inner);
    Future<void> c = awaiter(w, &how);
    inner.set_result(1);
    ASSERT_TRUE(w.done());
    EXPECT_TRUE(c.cancel());
    run_until_done(c);
    EXPECT_TRUE(c.cancelled());
    EXPECT_EQ(loop().pending_timeouts(), 0u);
  }
}

// ---- WaitIterator --------------------------------------------------------------
//
// A coroutine awaiting `it.next()` is cancelled: next()'s future (plain)
// is cancelled; the inputs are not (the iterator does not own them); the
// iterator stays usable: an input finishing later goes to the next call of
// next(), nothing is lost. If the cancel comes after next() had delivered
// an input (its future done, the coroutine not resumed), that input counts
// as delivered: the coroutine gets CancelledError, and the input is still
// at current_index()/current_future().

Future<int> next_of(gen::WaitIterator<int>* it, std::string* how) {
  try {
    int v = co_await it->next();
    *how = "value";
    co_return v;
  } catch (const CancelledError&) {
    *how = "cancelled";
    throw;
  }
}

TEST_F(CancelAwaitablesTest, WaitIteratorStaysUsableAfterACancelledNext) {
  Future<int> a, b;
  gen::WaitIterator<int> it({a, b});
  std::string how;
  Future<int> c = next_of(&it, &how);
  EXPECT_TRUE(c.cancel());
  run_until_done(c);
  EXPECT_EQ(how, "cancelled");
  EXPECT_FALSE(a.done());
  EXPECT_FALSE(b.done());
  b.set_result(2);  // finishes while nobody waits
  a.set_result(1);
  EXPECT_FALSE(it.done());
  Future<int> n1 = it.next();
  ASSERT_TRUE(n1.done());
  EXPECT_EQ(n1.result(), 2);
  EXPECT_EQ(it.current_index(), 1);
  Future<int> n2 = it.next();
  ASSERT_TRUE(n2.done());
  EXPECT_EQ(n2.result(), 1);
  EXPECT_EQ(it.current_index(), 0);
  EXPECT_TRUE(it.done());
}

TEST_F(CancelAwaitablesTest, WaitIteratorCancelAfterDelivery) {
  Future<int> a, b;
  gen::WaitIterator<int> it({a, b});
  std::string how;
  Future<int> c = next_of(&it, &how);
  a.set_result(1);  // delivered to next()'s future; c's resumption queued
  EXPECT_TRUE(c.cancel());
  run_until_done(c);
  EXPECT_EQ(how, "cancelled");
  EXPECT_TRUE(c.cancelled());
  EXPECT_EQ(it.current_index(), 0);  // the input delivered, still reachable
  ASSERT_TRUE(it.current_future().has_value());
  EXPECT_EQ(it.current_future()->result(), 1);
  EXPECT_FALSE(it.done());
  std::string how2;
  Future<int> c2 = next_of(&it, &how2);
  b.set_result(2);
  run_until_done(c2);
  EXPECT_EQ(c2.result(), 2);
  EXPECT_TRUE(it.done());
}

}  // namespace
}  // namespace tornado
