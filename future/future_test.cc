// Ports the behaviours of Tornado 4.5's concurrent_test.py that concern
// the Future itself (the @return_future / TCP client parts need an IOLoop
// and networking; see //ioloop and //gen).

#include "tornado/future/future.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tornado/logging/logging.h"
#include "tornado/testing/alloc_counter.h"

namespace tornado {
namespace {

// Captures log lines for the duration of a test.
class FutureTest : public ::testing::Test {
 protected:
  std::vector<std::string> lines_;
  logging::ScopedSink sink_{[this](logging::Level, std::string_view s) {
    lines_.emplace_back(s);
  }};
};

TEST_F(FutureTest, DefaultIsPending) {
  Future<int> f;
  EXPECT_FALSE(f.done());
  EXPECT_THROW(f.result(), InvalidStateError);
  EXPECT_THROW(f.exception(), InvalidStateError);
}

TEST_F(FutureTest, ResultIsSharedByCopies) {
  Future<std::string> f;
  Future<std::string> g = f;
  f.set_result("hello");
  EXPECT_TRUE(g.done());
  EXPECT_EQ(g.result(), "hello");
  EXPECT_EQ(g.exception(), nullptr);
  EXPECT_TRUE(f == g);
  EXPECT_FALSE(f == Future<std::string>());
}

TEST_F(FutureTest, ExceptionIsRethrownByResult) {
  Future<int> f;
  f.set_exception(std::make_exception_ptr(std::runtime_error("boom")));
  EXPECT_TRUE(f.done());
  EXPECT_THROW(f.result(), std::runtime_error);
  EXPECT_NE(f.exception(), nullptr);
}

TEST_F(FutureTest, CompletingTwiceThrows) {
  Future<int> f;
  f.set_result(1);
  try {
    f.set_result(2);
    FAIL() << "no exception";
  } catch (const InvalidStateError& e) {
    EXPECT_NE(std::string(e.what()).find("already done"), std::string::npos);
  }
  EXPECT_THROW(f.set_exception(std::make_exception_ptr(std::logic_error("x"))),
               InvalidStateError);
  EXPECT_EQ(f.result(), 1);  // the first result stands
}

TEST_F(FutureTest, NullExceptionIsRejected) {
  Future<int> f;
  EXPECT_THROW(f.set_exception(nullptr), std::invalid_argument);
  EXPECT_FALSE(f.done());
}

TEST_F(FutureTest, CallbacksRunOnceInOrder) {
  Future<int> f;
  std::vector<int> order;
  f.add_done_callback([&](Future<int> g) { order.push_back(g.result()); });
  f.add_done_callback([&](Future<int>) { order.push_back(-1); });
  EXPECT_TRUE(order.empty());
  f.set_result(7);
  EXPECT_EQ(order, (std::vector<int>{7, -1}));
}

TEST_F(FutureTest, CallbackAddedAfterDoneRunsAtOnce) {
  Future<int> f;
  f.set_result(3);
  int got = 0;
  f.add_done_callback([&](Future<int> g) { got = g.result(); });
  EXPECT_EQ(got, 3);
}

TEST_F(FutureTest, CallbackAddingCallbackDuringCompletion) {
  Future<int> f;
  std::vector<std::string> order;
  f.add_done_callback([&](Future<int> g) {
    order.push_back("first");
    g.add_done_callback([&](Future<int>) { order.push_back("nested"); });
  });
  f.add_done_callback([&](Future<int>) { order.push_back("second"); });
  f.set_result(1);
  EXPECT_EQ(order, (std::vector<std::string>{"first", "nested", "second"}));
}

TEST_F(FutureTest, ThrowingCallbackDoesNotStopTheOthersAndIsLogged) {
  Future<int> f;
  bool second_ran = false;
  f.add_done_callback([](Future<int>) { throw std::runtime_error("cb1"); });
  f.add_done_callback([&](Future<int>) { second_ran = true; });
  f.set_result(1);
  EXPECT_TRUE(second_ran);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0],
            "Exception in done-callback of a Future: std::runtime_error: cb1");
}

TEST_F(FutureTest, CallbackMayDropTheLastHandle) {
  auto* f = new Future<int>;
  f->add_done_callback([&](Future<int>) { delete f; });
  Future<int> copy = *f;
  copy.set_result(1);  // deletes *f during completion; no use-after-free
  EXPECT_EQ(copy.result(), 1);
}

TEST_F(FutureTest, VoidFuture) {
  Future<void> f;
  bool ran = false;
  f.add_done_callback([&](Future<void> g) {
    g.result();
    ran = true;
  });
  f.set_result();
  EXPECT_TRUE(ran);
  EXPECT_NO_THROW(f.result());
  static_assert(std::is_void_v<decltype(f.result())>);
  EXPECT_THROW(f.set_result(), InvalidStateError);
}

TEST_F(FutureTest, MoveOnlyResultTakenOnce) {
  Future<std::unique_ptr<int>> f;
  f.set_result(std::make_unique<int>(5));
  EXPECT_EQ(*f.result(), 5);
  std::unique_ptr<int> p = f.take_result();
  EXPECT_EQ(*p, 5);
  EXPECT_THROW(f.take_result(), InvalidStateError);
  EXPECT_THROW(f.result(), InvalidStateError);
}

TEST_F(FutureTest, ChainFutureCopiesResult) {
  Future<int> a, b;
  chain_future(a, b);
  EXPECT_FALSE(b.done());
  a.set_result(42);
  EXPECT_EQ(b.result(), 42);
}

TEST_F(FutureTest, ChainFutureCopiesException) {
  Future<int> a, b;
  chain_future(a, b);
  a.set_exception(std::make_exception_ptr(std::out_of_range("x")));
  EXPECT_THROW(b.result(), std::out_of_range);
  // a's exception was retrieved by the chain; b's by the line above.
}

TEST_F(FutureTest, ChainFutureLeavesDoneTargetAlone) {
  Future<int> a, b;
  b.set_result(1);
  chain_future(a, b);
  a.set_result(2);
  EXPECT_EQ(b.result(), 1);
}

TEST_F(FutureTest, ChainFutureMovesMoveOnly) {
  Future<std::unique_ptr<int>> a, b;
  chain_future(a, b);
  a.set_result(std::make_unique<int>(9));
  EXPECT_EQ(*b.take_result(), 9);
}

TEST_F(FutureTest, ChainVoid) {
  Future<void> a, b;
  chain_future(a, b);
  a.set_result();
  EXPECT_TRUE(b.done());
}

TEST_F(FutureTest, NeverRetrievedExceptionIsLoggedOnce) {
  {
    Future<int> f;
    Future<int> copy = f;
    f.set_exception(std::make_exception_ptr(std::runtime_error("lost")));
  }
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0],
            "Future exception was never retrieved: std::runtime_error: lost");
}

TEST_F(FutureTest, RetrievedExceptionIsNotLogged) {
  {
    Future<int> f;
    f.set_exception(std::make_exception_ptr(std::runtime_error("seen")));
    EXPECT_THROW(f.result(), std::runtime_error);
  }
  {
    Future<int> f;
    f.set_exception(std::make_exception_ptr(std::runtime_error("seen")));
    EXPECT_NE(f.exception(), nullptr);
  }
  EXPECT_TRUE(lines_.empty());
}

TEST_F(FutureTest, IsFutureTrait) {
  static_assert(is_future_v<Future<int>>);
  static_assert(is_future_v<const Future<void>&>);
  static_assert(!is_future_v<int>);
  static_assert(FutureType<Future<std::string>>);
}

TEST_F(FutureTest, MovedFromHandleThrowsClearly) {
  Future<int> f;
  Future<int> g = std::move(f);
  EXPECT_FALSE(f.done());  // NOLINT(bugprone-use-after-move)
  EXPECT_THROW(f.set_result(1), InvalidStateError);
  g.set_result(1);
  EXPECT_EQ(g.result(), 1);
}

TEST_F(FutureTest, DoneFutureWithOneCallbackCostsOneAllocation) {
  if (!testing::counting_works()) GTEST_SKIP() << "allocations not countable here";
  int sum = 0;
  testing::AllocCounter allocs;
  {
    Future<int> f;
    testing::escape(&f);
    f.add_done_callback([&sum](Future<int> g) { sum += g.result(); });
    f.set_result(2);
  }
  EXPECT_EQ(allocs.count(), 1u);
  EXPECT_EQ(sum, 2);
}

TEST_F(FutureTest, MakeReadyFuture) {
  EXPECT_EQ(make_ready_future(3).result(), 3);
  EXPECT_TRUE(make_ready_future().done());
  auto f = make_exceptional_future<int>(
      std::make_exception_ptr(std::runtime_error("e")));
  EXPECT_THROW(f.result(), std::runtime_error);
}

}  // namespace
}  // namespace tornado
