// Lifetimes of coroutines and what they point to: the function object
// that started a coroutine, the loop a timeout belongs to, the coroutine
// awaiting another one, a coroutine's own future completed by someone
// else, huge durations. Each test reproduces a defect found in review
// (use after free, std::terminate, a hang or an instant timeout before
// the fix).

#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tornado/gen/gen.h"
#include "gtest/gtest.h"
#include "tornado/logging/logging.h"
#include "tornado/testing/run_loop.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

using testing::run_for;

class Captured {
 public:
  std::vector<std::string> lines;
  bool contains(std::string_view needle) const {
    for (const auto& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

 private:
  logging::ScopedSink sink_{[this](logging::Level, std::string_view s) {
    lines.emplace_back(s);
  }};
};

// ---- 2. The function object lives as long as the coroutine it started --------------

// run_sync(coroutine_lambda, timeout) that timed out left the coroutine
// running while the lambda, and so every capture the coroutine reads
// through `this`, died with run_sync.
TEST(CoroutineLambdaLifetime, RunSyncTimeoutKeepsTheLambdaAliveUntilTheCoroutineEnds) {
  IOLoop loop;
  loop.make_current();
  Future<void> gate;
  int out = 0;
  auto token = std::make_shared<std::string>("captured state");
  std::weak_ptr<std::string> weak = token;
  EXPECT_THROW(loop.run_sync(
                   [token = std::move(token), gate, &out]() -> Future<void> {
                     co_await gate;
                     out = static_cast<int>(token->size());
                   },
                   20ms),
               TimeoutError);
  EXPECT_FALSE(weak.expired()) << "the lambda died with run_sync";
  gate.set_result();
  run_for(loop, 5ms);
  EXPECT_EQ(out, 14);
  EXPECT_TRUE(weak.expired()) << "the lambda outlived its coroutine";
}

TEST(CoroutineLambdaLifetime, ClosingTheLoopReleasesTheLambdaOfAnUnfinishedCoroutine) {
  auto token = std::make_shared<int>(1);
  std::weak_ptr<int> weak = token;
  {
    IOLoop loop;
    loop.make_current();
    Future<void> never;
    EXPECT_THROW(loop.run_sync(
                     [token = std::move(token), never]() -> Future<void> {
                       co_await never;
                       ++*token;
                     },
                     5ms),
                 TimeoutError);
    EXPECT_FALSE(weak.expired());
  }
  EXPECT_TRUE(weak.expired());
}

// ---- 5. with_timeout after its loop is gone -------------------------------------------

// with_timeout's callback held a raw IOLoop*: the future completing after
// the loop was destroyed read freed memory.
TEST(NothingOutlivesTheLoop, WithTimeoutCompletedAfterTheLoopIsDestroyed) {
  Future<int> f;
  Future<int> r;
  {
    IOLoop loop;
    loop.make_current();
    r = gen::with_timeout(1h, f);
  }
  f.set_result(1);  // used to read the freed loop
  ASSERT_TRUE(r.done());  // with_timeout still passes f's outcome on
  EXPECT_EQ(r.result(), 1);
}

// ---- 6. A child never points at a dead parent ----------------------------------------

Future<int> child_waits(Future<int> gate) {
  int v = co_await gate;
  co_return v;
}

Future<int> parent_of(Future<int> child) {
  int v = co_await child;
  co_return v + 1;
}

// The child kept `parent_ = this` after the parent's frame was gone: the
// coroutine dump and async chains read the freed parent.
TEST(ParentLinks, DumpAfterTheAwaitingParentFinished) {
  Captured log;
  IOLoop loop;
  loop.make_current();
  Future<int> gate;
  Future<int> child = child_waits(gate);
  Future<int> parent = parent_of(child);
  child.set_result(10);  // completes the child's future from outside
  run_for(loop, 5ms);
  ASSERT_TRUE(parent.done());
  EXPECT_EQ(parent.result(), 11);
  std::ostringstream dump;
  EXPECT_EQ(gen::dump_coroutines(dump, loop), 1u);
  EXPECT_NE(dump.str().find("child_waits"), std::string::npos) << dump.str();
  gate.set_result(3);  // the child finishes late: harmless
  run_for(loop, 5ms);
}

TEST(ParentLinks, ParentOnAnotherLoopDestroyed) {
  IOLoop b;
  b.make_current();
  Future<int> gate;
  Future<int> child = child_waits(gate);  // suspended on b
  {
    IOLoop a;
    a.make_current();
    Future<int> parent = parent_of(child);  // suspended on a
    std::ostringstream dump;
    EXPECT_EQ(gen::dump_coroutines(dump, b), 1u);
  }  // a's frames (the parent) are destroyed
  b.make_current();
  std::ostringstream dump;
  EXPECT_EQ(gen::dump_coroutines(dump, b), 1u);
  EXPECT_NE(dump.str().find("child_waits"), std::string::npos);
  gate.set_exception(std::make_exception_ptr(std::runtime_error("late")));
  Captured log;
  run_for(b, 5ms);
  EXPECT_TRUE(child.done());
  EXPECT_THROW(child.result(), std::runtime_error);
}

// ---- 10. A coroutine's future is the coroutine's -----------------------------------

Future<int> returns_after(Future<void> gate, int v) {
  co_await gate;
  co_return v;
}
Future<void> returns_void_after(Future<void> gate) { co_await gate; }
Future<int> throws_after(Future<void> gate) {
  co_await gate;
  throw std::runtime_error("too late to matter");
}

// co_return on a future completed from outside threw inside the noexcept
// unhandled_exception(): std::terminate.
TEST(CoroutineFuture, FinishingAfterItsFutureWasCompletedIsHarmless) {
  Captured log;
  IOLoop loop;
  loop.make_current();
  Future<void> gate;
  Future<int> a = returns_after(gate, 5);
  Future<void> b = returns_void_after(gate);
  Future<int> c = throws_after(gate);
  a.set_result(1);
  b.set_result();
  c.set_exception(std::make_exception_ptr(std::logic_error("outside")));
  gate.set_result();
  run_for(loop, 5ms);
  EXPECT_EQ(a.result(), 1);
  EXPECT_THROW(c.result(), std::logic_error);
  EXPECT_TRUE(log.contains("too late to matter")) << "the dropped exception is logged";
}

TEST(CoroutineFuture, FinishingSynchronouslyAfterCompletionIsHarmless) {
  Captured log;
  IOLoop loop;
  loop.make_current();
  Future<int> f;
  // The body completes its own future through a copy, then returns.
  auto coro = [](Future<int>* out) -> Future<int> {
    co_await gen::moment;
    out->set_result(1);
    co_return 2;
  };
  Future<int> r = coro(&f);
  f = r;
  run_for(loop, 5ms);
  EXPECT_EQ(r.result(), 1);
}

// ---- 11. Huge durations saturate ------------------------------------------------------

TEST(TimeSaturates, SleepAndWithTimeoutWithHugeDurations) {
  IOLoop loop;
  loop.make_current();
  Future<void> s1 = gen::sleep(std::chrono::hours::max());
  Future<void> s2 = gen::sleep(std::chrono::seconds::max());
  Future<int> never;
  Future<int> w1 = gen::with_timeout(std::chrono::hours::max(), never);
  Future<int> w2 = gen::with_timeout(IOLoop::time_point::max(), never);
  Future<void> past = gen::sleep(std::chrono::hours::min());
  run_for(loop, 10ms);
  EXPECT_FALSE(s1.done());
  EXPECT_FALSE(s2.done());
  EXPECT_FALSE(w1.done());
  EXPECT_FALSE(w2.done());
  EXPECT_TRUE(past.done());
}

// ---- 12. The README's order: a coroutine called before run_sync ---------------------

Future<int> asyn_sum(int a, int b) {
  Future<int> f;
  IOLoop::current().add_callback([f, a, b]() mutable { f.set_result(a + b); });
  int r = co_await f;
  co_return r;
}

// Used to park on the never-run IOLoop::instance() and hang.
TEST(CurrentLoop, ACoroutineCalledBeforeRunSyncRunsOnTheNewLoop) {
  std::thread([] {
    IOLoop loop;
    Future<int> f = asyn_sum(2, 3);
    EXPECT_EQ(loop.run_sync([&] { return f; }, 2s), 5);
  }).join();
}

}  // namespace
}  // namespace tornado
