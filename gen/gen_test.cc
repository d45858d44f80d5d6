// Ports the behaviours of Tornado 4.5's gen_test.py that make sense in C++
// (the Future-based ones; the YieldPoint/Callback/Wait/Task family was
// removed in Tornado 6 and is not ported), plus the lifetime and depth
// guarantees of //gen.

#include "tornado/gen/gen.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tornado/logging/logging.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

class GenTest : public ::testing::Test {
 protected:
  GenTest() { loop_.make_current(); }
  ~GenTest() override { loop_.close(); }

  std::vector<std::string> log_;
  logging::ScopedSink sink_{[this](logging::Level, std::string_view s) {
    log_.emplace_back(s);
  }};
  IOLoop loop_;
};

// Resolves on the next iteration (Tornado's async_future helper).
Future<int> async_future(int value) {
  Future<int> f;
  IOLoop::current().add_callback([f, value]() mutable { f.set_result(value); });
  return f;
}

// ---- returning ----------------------------------------------------------------

Future<int> sync_return() { co_return 42; }

TEST_F(GenTest, SyncReturnIsDoneAtOnce) {
  Future<int> f = sync_return();
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.result(), 42);
}

Future<int> async_return() {
  co_await gen::moment;
  co_return 42;
}

TEST_F(GenTest, AsyncReturn) {
  Future<int> f = async_return();
  EXPECT_FALSE(f.done());
  EXPECT_EQ(loop_.run_sync([&] { return f; }), 42);
}

Future<void> return_no_value(bool suspend) {
  if (suspend) co_await gen::moment;
  co_return;
}

TEST_F(GenTest, ReturnNoValue) {
  EXPECT_TRUE(return_no_value(false).done());
  EXPECT_NO_THROW(loop_.run_sync([] { return return_no_value(true); }));
}

TEST_F(GenTest, BodyRunsSynchronouslyUpToFirstSuspension) {
  std::vector<std::string> order;
  auto coro = [&]() -> Future<void> {
    order.push_back("body-start");
    co_await make_ready_future(1);  // done: no suspension
    order.push_back("after done future");
    co_await gen::moment;
    order.push_back("body-resumed");
  };
  Future<void> f = coro();
  order.push_back("returned, done=" + std::to_string(f.done()));
  loop_.run_sync([&] { return f; });
  EXPECT_EQ(order, (std::vector<std::string>{"body-start", "after done future",
                                             "returned, done=0",
                                             "body-resumed"}));
}

TEST_F(GenTest, AwaitGivesTheResult) {
  auto coro = []() -> Future<int> {
    int a = co_await async_future(2);
    int b = co_await async_future(3);
    co_return a + b;
  };
  EXPECT_EQ(loop_.run_sync(coro), 5);
}

TEST_F(GenTest, MoveOnlyResultThroughCoAwait) {
  auto produce = []() -> Future<std::unique_ptr<int>> {
    co_await gen::moment;
    co_return std::make_unique<int>(7);
  };
  auto consume = [&]() -> Future<int> {
    std::unique_ptr<int> p = co_await produce();
    co_return *p;
  };
  EXPECT_EQ(loop_.run_sync(consume), 7);
}

// ---- exceptions ---------------------------------------------------------------------

Future<int> sync_raise() {
  throw std::domain_error("sync");
  co_return 0;
}

TEST_F(GenTest, SyncRaiseIsStoredNotThrown) {
  Future<int> f;
  EXPECT_NO_THROW(f = sync_raise());
  EXPECT_TRUE(f.done());
  EXPECT_THROW(f.result(), std::domain_error);
}

Future<int> async_raise() {
  co_await gen::moment;
  throw std::domain_error("async");
}

TEST_F(GenTest, AsyncRaise) {
  EXPECT_THROW(loop_.run_sync(async_raise), std::domain_error);
}

TEST_F(GenTest, ExceptionThrownIntoCoroutineCanBeSwallowed) {
  // test_swallow_yieldpoint_exception
  auto parent = []() -> Future<int> {
    try {
      co_await async_raise();
    } catch (const std::domain_error&) {
      co_return 42;
    }
    co_return 0;
  };
  EXPECT_EQ(loop_.run_sync(parent), 42);
}

TEST_F(GenTest, ExceptionThrownIntoCoroutineCanBeReplaced) {
  // test_replace_yieldpoint_exception
  auto parent = []() -> Future<int> {
    try {
      co_await async_raise();
    } catch (const std::domain_error&) {
      throw std::out_of_range("replaced");
    }
    co_return 0;
  };
  EXPECT_THROW(loop_.run_sync(parent), std::out_of_range);
}

TEST_F(GenTest, CoroutineGoesOnAfterCatching) {
  auto parent = []() -> Future<int> {
    int total = 0;
    for (int i = 0; i < 3; ++i) {
      bool caught = false;
      try {
        co_await async_raise();
      } catch (const std::domain_error&) {
        caught = true;  // (C++ allows no co_await inside a handler)
      }
      if (caught) total += co_await async_future(10);
    }
    co_return total;
  };
  EXPECT_EQ(loop_.run_sync(parent), 30);
}

TEST_F(GenTest, FailedCoroutineNobodyAwaitedIsLogged) {
  // test_uncaught_exception_log
  loop_.run_sync([] {
    static_cast<void>(async_raise());  // dropped on purpose
    return gen::sleep(5ms);
  });
  ASSERT_EQ(log_.size(), 1u);
  // The message, then the async chain of the coroutine it escaped.
  EXPECT_EQ(log_[0].substr(0, log_[0].find('\n')),
            "Future exception was never retrieved: std::domain_error: async");
#if defined(__cpp_lib_source_location)
  const char* expected = "in coroutine tornado::{anonymous}::async_raise at gen/gen_test.cc:";
#else  // clang 14: the bare function name
  const char* expected = "in coroutine async_raise at gen/gen_test.cc:";
#endif
  EXPECT_NE(log_[0].find(expected),
            std::string::npos)
      << log_[0];
}

// ---- nesting and scheduling ----------------------------------------------------------

Future<int> child(int v) {
  co_await gen::moment;
  co_return v * 2;
}

TEST_F(GenTest, NestedCoroutines) {
  auto parent = []() -> Future<int> {
    int a = co_await child(1);
    int b = co_await child(2);
    co_return a + b;
  };
  EXPECT_EQ(loop_.run_sync(parent), 6);
}

// test_moment: two coroutines appending their name 5 times, each step
// awaiting either moment or an already-done future.
Future<void> appender(std::string* out, char name, bool use_moment) {
  for (int i = 0; i < 5; ++i) {
    out->push_back(name);
    if (use_moment) {
      co_await gen::moment;
    } else {
      co_await make_ready_future();
    }
  }
}

TEST_F(GenTest, MomentInterleavesAndDoneFuturesDoNot) {
  auto both = [&](bool a_moment, bool b_moment) {
    std::string out;
    loop_.run_sync([&] {
      return gen::multi(std::vector<Future<void>>{
          appender(&out, 'a', a_moment), appender(&out, 'b', b_moment)});
    });
    return out;
  };
  EXPECT_EQ(both(false, false), "aaaaabbbbb");
  EXPECT_EQ(both(true, true), "ababababab");
  EXPECT_EQ(both(true, false), "abbbbbaaaa");
}

TEST_F(GenTest, CoroutinesStartedBeforeStartAsInTheDocument) {
  std::vector<std::string> out;
  auto asyn_sum = [&](int a, int b) -> Future<void> {
    out.push_back("begin");
    Future<int> future;
    IOLoop::current().add_callback([&out, future, a, b]() mutable {
      out.push_back("callback");
      future.set_result(a + b);
    });
    int result = co_await future;
    out.push_back("after yielded " + std::to_string(result));
    IOLoop::current().stop();
  };
  Future<void> f = asyn_sum(2, 3);
  EXPECT_FALSE(f.done());
  loop_.start();
  EXPECT_TRUE(f.done());
  EXPECT_EQ(out,
            (std::vector<std::string>{"begin", "callback", "after yielded 5"}));
}

TEST_F(GenTest, Sleep) {
  auto start = loop_.time();
  loop_.run_sync([] { return gen::sleep(10ms); });
  EXPECT_GE(loop_.time() - start, 10ms);
}

TEST_F(GenTest, MaybeFuture) {
  EXPECT_EQ(gen::maybe_future(3).result(), 3);
  Future<int> pending;
  EXPECT_TRUE(gen::maybe_future(pending) == pending);
}

// ---- deep chains ----------------------------------------------------------------------

TEST_F(GenTest, AwaitingManyDoneFuturesDoesNotGrowTheStack) {
  auto coro = []() -> Future<int64_t> {
    int64_t total = 0;
    for (int i = 0; i < 100000; ++i) total += co_await make_ready_future(1);
    co_return total;
  };
  EXPECT_EQ(loop_.run_sync(coro), 100000);
}

Future<int> nested_chain(int depth, Future<int> leaf) {
  if (depth == 0) co_return co_await leaf;
  co_return 1 + co_await nested_chain(depth - 1, leaf);
}

TEST_F(GenTest, CompletingADeepChainDoesNotRecursePerLevel) {
  Future<int> leaf;
  Future<int> top = nested_chain(10000, leaf);
  EXPECT_FALSE(top.done());
  loop_.add_callback([leaf]() mutable { leaf.set_result(0); });
  EXPECT_EQ(loop_.run_sync([&] { return top; }), 10000);
}

// ---- multi ------------------------------------------------------------------------------

TEST_F(GenTest, MultiResultsInInputOrder) {
  auto coro = []() -> Future<std::vector<int>> {
    // (Named: GCC 12 cannot keep a braced list alive across co_await.)
    std::vector<Future<int>> children;
    children.push_back(child(3));
    children.push_back(async_future(1));
    children.push_back(make_ready_future(9));
    co_return co_await gen::multi(std::move(children));
  };
  EXPECT_EQ(loop_.run_sync(coro), (std::vector<int>{6, 1, 9}));
}

TEST_F(GenTest, MultiEmpty) {
  auto f = gen::multi(std::vector<Future<int>>{});
  EXPECT_TRUE(f.done());
  EXPECT_TRUE(f.result().empty());
  EXPECT_TRUE(gen::multi(std::vector<Future<void>>{}).done());
}

TEST_F(GenTest, MultiDuplicateFuture) {
  Future<int> f = async_future(2);
  auto r = loop_.run_sync([&] {
    return gen::multi(
        std::vector<Future<int>>{async_future(1), f, async_future(3), f});
  });
  EXPECT_EQ(r, (std::vector<int>{1, 2, 3, 2}));
}

TEST_F(GenTest, MultiWaitsForAllAndRaisesFirstLogsOthers) {
  auto fail = [](std::string what, int trips) -> Future<int> {
    for (int i = 0; i < trips; ++i) co_await gen::moment;
    throw std::runtime_error(what);
  };
  try {
    loop_.run_sync([&] {
      return gen::multi(std::vector<Future<int>>{fail("error 1", 3),
                                                 fail("error 2", 1)});
    });
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "error 1");
  }
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0].substr(0, log_[0].find('\n')),
            "Multiple exceptions in yield list: std::runtime_error: error 2");
  log_.clear();
  EXPECT_THROW(loop_.run_sync([&] {
    return gen::multi(std::vector<Future<int>>{fail("only", 1), child(1)});
  }),
               std::runtime_error);
  EXPECT_TRUE(log_.empty());
}

TEST_F(GenTest, MultiOfDifferentTypesGivesATuple) {
  auto coro = []() -> Future<std::string> {
    Future<std::string> name;
    IOLoop::current().add_callback([name]() mutable { name.set_result("n"); });
    auto [a, b, c] = co_await gen::multi(child(2), name, make_ready_future(1.5));
    co_return std::to_string(a) + b + std::to_string(static_cast<int>(c * 2));
  };
  EXPECT_EQ(loop_.run_sync(coro), "4n3");
}

TEST_F(GenTest, MultiOfDifferentTypesRaisesTheFirstFailure) {
  auto fail = [](const char* what) -> Future<int> {
    co_await gen::moment;
    throw std::runtime_error(what);
  };
  try {
    loop_.run_sync([&] { return gen::multi(child(1), fail("first"), fail("second")); });
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first");
  }
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_NE(log_[0].find("Multiple exceptions in yield list: std::runtime_error: second"),
            std::string::npos);
}

// ---- with_timeout -------------------------------------------------------------------

TEST_F(GenTest, WithTimeoutTimesOut) {
  Future<int> never;
  EXPECT_THROW(
      loop_.run_sync([&] { return gen::with_timeout(10ms, never); }),
      TimeoutError);
}

TEST_F(GenTest, WithTimeoutCompletesBefore) {
  auto r = loop_.run_sync([&] {
    Future<std::string> f;
    loop_.call_later(5ms, [f]() mutable { f.set_result("asdf"); });
    return gen::with_timeout(1h, f);
  });
  EXPECT_EQ(r, "asdf");
  EXPECT_EQ(loop_.pending_timeouts(), 0u);  // the timeout was removed
}

TEST_F(GenTest, WithTimeoutFailsBefore) {
  EXPECT_THROW(loop_.run_sync([&] { return gen::with_timeout(1h, async_raise()); }),
               std::domain_error);
}

TEST_F(GenTest, WithTimeoutAlreadyResolvedAndAbsoluteDeadline) {
  EXPECT_EQ(gen::with_timeout(loop_.time(), make_ready_future(5)).result(), 5);
  Future<int> late;
  EXPECT_THROW(loop_.run_sync([&] { return gen::with_timeout(loop_.time(), late); }),
               TimeoutError);
  // Failing after the timeout is logged, not lost.
  late.set_exception(std::make_exception_ptr(std::runtime_error("late")));
  EXPECT_EQ(log_, (std::vector<std::string>{
                      "Exception in Future after timeout: "
                      "std::runtime_error: late"}));
}

// ---- WaitIterator ---------------------------------------------------------------------

TEST_F(GenTest, WaitIteratorEmpty) {
  gen::WaitIterator<int> it({});
  EXPECT_TRUE(it.done());
  EXPECT_EQ(it.current_index(), -1);
  EXPECT_FALSE(it.current_future().has_value());
  EXPECT_THROW(static_cast<void>(it.next()), std::logic_error);
}

TEST_F(GenTest, WaitIteratorAlreadyDoneInInputOrder) {
  std::vector<Future<int>> fs{make_ready_future(24), make_ready_future(42),
                              make_ready_future(84)};
  gen::WaitIterator<int> it(fs);
  std::vector<std::pair<int, int>> seen;
  auto coro = [&]() -> Future<void> {
    while (!it.done()) {
      int r = co_await it.next();
      EXPECT_TRUE(*it.current_future() == fs[it.current_index()]);
      seen.emplace_back(it.current_index(), r);
    }
  };
  loop_.run_sync(coro);
  EXPECT_EQ(seen, (std::vector<std::pair<int, int>>{{0, 24}, {1, 42}, {2, 84}}));
  EXPECT_EQ(it.current_index(), -1);
}

TEST_F(GenTest, WaitIteratorCompletionOrderWithException) {
  // test_iterator: resolved at iterations 3 (f[2]=24), 5 (f[0] fails),
  // 8 (f[1]=42), 8 (f[3]=84).
  std::vector<Future<int>> fs(4);
  auto at = [&](int iterations, auto fn) -> Future<void> {
    for (int i = 0; i < iterations; ++i) co_await gen::moment;
    fn();
  };
  std::vector<Future<void>> drivers;
  drivers.push_back(at(3, [&] { fs[2].set_result(24); }));
  drivers.push_back(at(5, [&] {
    fs[0].set_exception(std::make_exception_ptr(std::domain_error("zero")));
  }));
  drivers.push_back(at(8, [&] {
    fs[1].set_result(42);
    fs[3].set_result(84);
  }));
  gen::WaitIterator<int> it(fs);
  std::vector<std::string> seen;
  auto coro = [&]() -> Future<void> {
    while (!it.done()) {
      try {
        int r = co_await it.next();
        seen.push_back(std::to_string(it.current_index()) + "=" +
                       std::to_string(r));
      } catch (const std::domain_error&) {
        seen.push_back(std::to_string(it.current_index()) + " failed");
      }
    }
  };
  loop_.run_sync(coro);
  EXPECT_EQ(seen, (std::vector<std::string>{"2=24", "0 failed", "1=42", "3=84"}));
}

TEST_F(GenTest, WaitIteratorNextOutlivesTheIterator) {
  // test_no_ref
  Future<void> next;
  {
    gen::WaitIterator<void> it({gen::sleep(0ms)});
    next = it.next();
  }
  EXPECT_NO_THROW(loop_.run_sync([&] { return gen::with_timeout(1s, next); }));
}

// ---- stack contexts --------------------------------------------------------------------

TEST_F(GenTest, AwaitInsideStackContextIsInconsistent) {
  // test_yield_in_with, at the first step and after an earlier suspension.
  auto first_step = []() -> Future<void> {
    StackContext c([] { return 0; });
    co_await gen::moment;
  };
  EXPECT_THROW(loop_.run_sync(first_step), StackContextInconsistentError);
  auto later_step = []() -> Future<void> {
    co_await gen::moment;
    ExceptionStackContext c([](std::exception_ptr) { return false; });
    co_await async_future(1);
  };
  EXPECT_THROW(loop_.run_sync(later_step), StackContextInconsistentError);
  EXPECT_TRUE(stack_context::empty());
  EXPECT_TRUE(log_.empty());  // reported once, by the exception
}

TEST_F(GenTest, AwaitOutsideStackContextIsFine) {
  // test_yield_outside_with
  auto coro = [&]() -> Future<int> {
    Future<int> f;
    {
      StackContext c([] { return 0; });
      loop_.add_callback([f]() mutable { f.set_result(3); });
    }
    co_return co_await f;
  };
  EXPECT_EQ(loop_.run_sync(coro), 3);
}

TEST_F(GenTest, CoroutineKeepsTheContextsItWasCalledIn) {
  Local<std::string> request;
  std::vector<std::string> seen;
  auto handler = [&]() -> Future<void> {
    seen.push_back(*request.get());
    co_await gen::moment;
    seen.push_back(*request.get());
    co_await gen::sleep(1ms);
    seen.push_back(*request.get());
  };
  std::vector<Future<void>> running;
  {
    Local<std::string>::Scope s(request, "A");
    running.push_back(handler());
  }
  {
    Local<std::string>::Scope s(request, "B");
    running.push_back(handler());
  }
  loop_.run_sync([&] { return gen::multi(running); });
  EXPECT_EQ(seen, (std::vector<std::string>{"A", "B", "A", "B", "A", "B"}));
}

TEST_F(GenTest, RunWithStackContextStartsChildInsideAContext) {
  // test_run_with_stack_context
  Local<std::string> name;
  std::vector<std::string> seen;
  auto f2 = [&]() -> Future<void> {
    seen.push_back(*name.get());
    co_await gen::moment;
    seen.push_back(*name.get());
  };
  // The child starts inside the scope; the parent never suspends in it.
  auto f1b = [&]() -> Future<void> {
    Future<void> c = [&] {
      Local<std::string>::Scope s(name, "c1");
      return f2();
    }();
    co_await c;
    seen.push_back(name.get() == nullptr ? "none" : *name.get());
  };
  loop_.run_sync(f1b);
  EXPECT_EQ(seen, (std::vector<std::string>{"c1", "c1", "none"}));
}

// ---- lifetimes --------------------------------------------------------------------------

struct Counted {
  static int alive;
  Counted() { ++alive; }
  Counted(const Counted&) { ++alive; }
  ~Counted() { --alive; }
};
int Counted::alive = 0;

TEST(GenLifetimeTest, ClosingTheLoopDestroysSuspendedFrames) {
  Counted::alive = 0;
  Future<int> never;  // outlives the loop, completed after it closed
  Future<int> result;
  {
    IOLoop loop;
    loop.make_current();
    auto coro = [](Future<int> f) -> Future<int> {
      Counted c;
      int v = co_await f;
      co_return v;
    };
    result = coro(never);
    Future<void> sleeper = [](Counted c) -> Future<void> {
      co_await gen::sleep(1h);
      (void)c;
    }(Counted());
    EXPECT_EQ(Counted::alive, 2);
    loop.close();
    EXPECT_EQ(Counted::alive, 0);
    EXPECT_FALSE(result.done());
    EXPECT_FALSE(sleeper.done());
  }
  never.set_result(1);  // nothing points at the destroyed frame
  EXPECT_FALSE(result.done());
}

TEST(GenLifetimeTest, DestroyingTheLoopDestroysFramesWaitingOnMoment) {
  Counted::alive = 0;
  {
    IOLoop loop;
    loop.make_current();
    static_cast<void>([](Counted c) -> Future<void> {
      for (;;) co_await gen::moment;
      (void)c;
    }(Counted()));
    loop.add_callback([&] { loop.stop(); });
    loop.start();
    EXPECT_EQ(Counted::alive, 1);
  }
  EXPECT_EQ(Counted::alive, 0);
}

// Regression (found by LeakSanitizer on //examples:hang): multi and
// WaitIterator held their children while the children's callbacks held
// them, a cycle when a child never completes. Under --config=asan this
// test leaks if the cycle comes back.
TEST(GenLifetimeTest, MultiAndWaitIteratorOverNeverCompletingChildrenLeakNothing) {
  Counted::alive = 0;
  {
    IOLoop loop;
    loop.make_current();
    Future<int> never;
    auto child = [](Future<int> f, Counted c) -> Future<int> {
      (void)c;
      co_return co_await f;
    };
    auto parent = [&]() -> Future<void> {
      std::vector<Future<int>> children;
      children.push_back(child(never, Counted()));
      children.push_back(child(never, Counted()));
      gen::WaitIterator<int> it(children);
      co_await gen::multi(std::move(children));
    };
    Future<void> p = parent();
    loop.run_sync([] { return gen::sleep(1ms); });
    EXPECT_EQ(Counted::alive, 2);
    loop.close();
    EXPECT_EQ(Counted::alive, 0);
    EXPECT_FALSE(p.done());
  }
}

TEST(GenLifetimeTest, FinishedCoroutineFreesItsFrameAtOnce) {
  // test_coroutine_refcounting: locals of a failed coroutine are gone
  // once it finished, before anyone reads the exception.
  Counted::alive = 0;
  IOLoop loop;
  loop.make_current();
  auto fails = []() -> Future<void> {
    Counted c;
    co_await gen::moment;
    throw std::runtime_error("x");
  };
  Future<void> f = fails();
  loop.run_sync([&] { return gen::sleep(1ms); });
  EXPECT_TRUE(f.done());
  EXPECT_EQ(Counted::alive, 0);
  EXPECT_THROW(f.result(), std::runtime_error);
  loop.close();
}

}  // namespace
}  // namespace tornado
