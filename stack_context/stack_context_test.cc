// Ports the behaviours of Tornado 4.5's stack_context_test.py that make
// sense without an IOLoop: "later" is a queue of wrapped callables run by
// hand, which is what the IOLoop does with them.

#include "tornado/stack_context/stack_context.h"

#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tornado/logging/logging.h"
#include "tornado/testing/alloc_counter.h"

namespace tornado {
namespace {

using stack_context::wrap;

// Tornado's test helper: a context that records its name while entered.
class StackContextTest : public ::testing::Test {
 protected:
  struct NameGuard {
    std::vector<std::string>* active;
    std::string name;
    bool live = true;
    NameGuard(std::vector<std::string>* a, std::string n)
        : active(a), name(std::move(n)) {
      active->push_back(name);
    }
    NameGuard(NameGuard&& o) noexcept
        : active(o.active), name(std::move(o.name)) {
      o.live = false;
    }
    ~NameGuard() {
      if (!live) return;
      EXPECT_EQ(active->back(), name);
      active->pop_back();
    }
  };

  auto context(std::string name) {
    return [this, name] { return NameGuard(&active_, name); };
  }

  // "The loop": wrapped callables queued and run later, in order.
  void later(std::function<void()> f) { queue_.push_back(std::move(f)); }
  void run_queue() {
    while (!queue_.empty()) {
      auto f = std::move(queue_.front());
      queue_.erase(queue_.begin());
      f();
    }
  }

  std::vector<std::string> active_;
  std::vector<std::function<void()>> queue_;
};

TEST_F(StackContextTest, WrappedCallbackReentersContextsInOrder) {
  std::vector<std::string> seen;
  {
    StackContext a(context("a"));
    StackContext b(context("b"));
    EXPECT_EQ(active_, (std::vector<std::string>{"a", "b"}));
    later(wrap([&] { seen = active_; }));
  }
  EXPECT_TRUE(active_.empty());
  run_queue();
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(active_.empty());  // left again, innermost first
}

TEST_F(StackContextTest, FactoryIsCalledAnewOnEveryCall) {
  int made = 0;
  std::function<void()> f;
  {
    StackContext c([&] {
      ++made;
      return 0;
    });
    f = wrap([] {});
  }
  EXPECT_EQ(made, 1);
  f();
  f();
  EXPECT_EQ(made, 3);
}

// test_exit_library_context: a library wraps the application's callback,
// then enters its own context; each callback sees its own contexts.
TEST_F(StackContextTest, ExitLibraryContext) {
  std::vector<std::string> in_library, in_app;
  StackContext app(context("application"));
  auto app_callback = wrap([&] { in_app = active_; });
  {
    StackContext library(context("library"));
    later(wrap([&, app_callback]() mutable {
      in_library = active_;
      app_callback();
    }));
  }
  run_queue();
  EXPECT_EQ(in_library,
            (std::vector<std::string>{"application", "application", "library"}));
  // The application callback runs in the application's contexts only
  // (re-entered inside the library's, which stay physically on the stack).
  EXPECT_EQ(in_app.back(), "application");
  EXPECT_EQ(std::count(in_app.begin(), in_app.end(), "library"), 1);
}

TEST_F(StackContextTest, ExceptionStackContextCatchesFromLaterCallback) {
  std::string caught;
  {
    ExceptionStackContext esc([&](std::exception_ptr e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::runtime_error& ex) {
        caught = ex.what();
      }
      return true;
    });
    later(wrap([] { throw std::runtime_error("later"); }));
  }
  EXPECT_NO_THROW(run_queue());
  EXPECT_EQ(caught, "later");
}

TEST_F(StackContextTest, HandlerReturningFalsePassesOutward) {
  std::vector<std::string> order;
  {
    ExceptionStackContext outer([&](std::exception_ptr) {
      order.push_back("outer");
      return true;
    });
    ExceptionStackContext inner([&](std::exception_ptr) {
      order.push_back("inner");
      return false;
    });
    later(wrap([] { throw std::runtime_error("x"); }));
  }
  EXPECT_NO_THROW(run_queue());
  EXPECT_EQ(order, (std::vector<std::string>{"inner", "outer"}));
}

TEST_F(StackContextTest, UnhandledExceptionReachesTheCaller) {
  std::function<void()> f;
  {
    ExceptionStackContext esc([](std::exception_ptr) { return false; });
    f = wrap([] { throw std::out_of_range("nobody"); });
  }
  EXPECT_THROW(f(), std::out_of_range);
  EXPECT_TRUE(stack_context::empty());  // caller's snapshot restored
}

TEST_F(StackContextTest, HandlerThrowingReplacesTheException) {
  std::string outer_saw;
  std::function<void()> f;
  {
    ExceptionStackContext outer([&](std::exception_ptr e) {
      outer_saw = logging::describe(e);
      return true;
    });
    ExceptionStackContext inner([](std::exception_ptr) -> bool {
      throw std::logic_error("replaced");
    });
    f = wrap([] { throw std::runtime_error("original"); });
  }
  EXPECT_NO_THROW(f());
  EXPECT_EQ(outer_saw, "std::logic_error: replaced");
}

TEST_F(StackContextTest, OuterHandlerRunsAfterInnerContextsLeft) {
  std::vector<std::string> when_handled;
  std::function<void()> f;
  {
    ExceptionStackContext esc([&](std::exception_ptr) {
      when_handled = active_;
      return true;
    });
    StackContext c(context("inner"));
    f = wrap([] { throw std::runtime_error("x"); });
  }
  f();
  EXPECT_TRUE(when_handled.empty());
}

// test_isolation_nonempty: f2 wrapped under c1, called under c2; what f2
// schedules sees c1 but not c2.
TEST_F(StackContextTest, IsolationNonEmpty) {
  std::vector<std::string> f3_saw;
  std::function<void()> f2;
  {
    StackContext c1(context("c1"));
    f2 = wrap([&] { later(wrap([&] { f3_saw = active_; })); });
  }
  {
    StackContext c2(context("c2"));
    f2();
  }
  run_queue();
  EXPECT_EQ(f3_saw, (std::vector<std::string>{"c1"}));
}

// test_isolation_empty: the same with f2 wrapped under NullContext.
TEST_F(StackContextTest, IsolationEmpty) {
  std::vector<std::string> f3_saw{"not run"};
  std::function<void()> f2;
  {
    StackContext c1(context("c1"));
    NullContext null;
    EXPECT_TRUE(stack_context::empty());
    f2 = wrap([&] { later(wrap([&] { f3_saw = active_; })); });
  }
  {
    StackContext c2(context("c2"));
    f2();
  }
  run_queue();
  EXPECT_TRUE(f3_saw.empty());
}

TEST_F(StackContextTest, WrapIsIdempotent) {
  int made = 0;
  std::function<void()> f;
  {
    StackContext c([&] {
      ++made;
      return 0;
    });
    auto once = wrap([] {});
    auto twice = wrap(once);
    static_assert(std::is_same_v<decltype(once), decltype(twice)>);
    f = twice;
  }
  made = 0;
  f();
  EXPECT_EQ(made, 1);  // entered once, not once per wrap
}

TEST_F(StackContextTest, WrapPassesArguments) {
  int got = 0;
  auto f = wrap([&](int a, int b) { got = a * 10 + b; });
  f(4, 2);
  EXPECT_EQ(got, 42);
}

TEST_F(StackContextTest, OutOfOrderExitIsDetectedAndLogged) {
  std::vector<std::string> lines;
  logging::ScopedSink sink(
      [&](logging::Level, std::string_view s) { lines.emplace_back(s); });
  int before = stack_context::inconsistencies();
  {
    auto* first = new StackContext([] { return 0; });
    StackContext second([] { return 0; });
    delete first;  // left while "second" is still active
  }
  EXPECT_TRUE(stack_context::empty());  // the dead scope was skipped
  EXPECT_EQ(stack_context::inconsistencies(), before + 1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("inconsistency"), std::string::npos);
}

TEST_F(StackContextTest, WrappedCallableRunsOnAnotherThread) {
  Local<int> value;
  std::function<void()> f;
  int seen_value = 0;
  bool seen_handler = false;
  {
    Local<int>::Scope scope(value, 7);
    ExceptionStackContext esc([&](std::exception_ptr) {
      seen_handler = true;
      return true;
    });
    f = wrap([&] {
      seen_value = *value.get();
      throw std::runtime_error("on the other thread");
    });
  }
  std::thread t([&] {
    EXPECT_TRUE(stack_context::empty());
    f();
    EXPECT_TRUE(stack_context::empty());  // restored on that thread
  });
  t.join();
  EXPECT_EQ(seen_value, 7);
  EXPECT_TRUE(seen_handler);
}

TEST_F(StackContextTest, LocalValuesIsolatedBetweenInterleavedRequests) {
  Local<std::string> request_id;
  std::vector<std::string> log;
  auto handle = [&](const std::string& id) {
    Local<std::string>::Scope scope(request_id, id);
    later(wrap([&] {
      log.push_back("step1 " + *request_id.get());
      later(wrap([&] { log.push_back("step2 " + *request_id.get()); }));
    }));
  };
  handle("A");
  handle("B");
  EXPECT_EQ(request_id.get(), nullptr);
  run_queue();
  EXPECT_EQ(log, (std::vector<std::string>{"step1 A", "step1 B", "step2 A",
                                           "step2 B"}));
}

TEST_F(StackContextTest, InnerLocalShadowsOuter) {
  Local<int> v;
  Local<int>::Scope outer(v, 1);
  {
    Local<int>::Scope inner(v, 2);
    EXPECT_EQ(*v.get(), 2);
  }
  EXPECT_EQ(*v.get(), 1);
}

TEST_F(StackContextTest, RunWithStackContext) {
  std::vector<std::string> seen;
  int r = stack_context::run_with_stack_context<StackContext>(
      context("c1"), [&] {
        seen = active_;
        return 5;
      });
  EXPECT_EQ(r, 5);
  EXPECT_EQ(seen, (std::vector<std::string>{"c1"}));
  EXPECT_TRUE(active_.empty());
}

TEST_F(StackContextTest, FactoryThrowingPropagatesAndLeavesStateAlone) {
  EXPECT_THROW(StackContext([]() -> int { throw std::runtime_error("no"); }),
               std::runtime_error);
  EXPECT_TRUE(stack_context::empty());
}

TEST_F(StackContextTest, WrapWithNoContextAllocatesNothing) {
  if (!testing::counting_works()) GTEST_SKIP() << "allocations not countable here";
  int calls = 0;
  testing::AllocCounter allocs;
  auto f = wrap([&calls] { ++calls; });
  f();
  f();
  EXPECT_EQ(allocs.count(), 0u);
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace tornado
