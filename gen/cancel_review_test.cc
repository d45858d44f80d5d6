// Regression tests from a review of the cancellation machinery
// (../shared/API.md, docs/lifetimes.md §10): each one failed before its fix.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tornado/gen/gen.h"
#include "tornado/logging/logging.h"
#include "tornado/testing/run_loop.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

class CancelReviewTest : public ::testing::Test {
 protected:
  CancelReviewTest() { loop_.make_current(); }
  ~CancelReviewTest() override { loop_.close(); }

  // Runs the loop until `f` is done (or 5 s pass).
  template <class T>
  void run_until_done(const Future<T>& f) {
    testing::run_until(loop_, [&] { return f.done(); });
    ASSERT_TRUE(f.done());
  }

  std::vector<std::string> log_;
  logging::ScopedSink sink_{[this](logging::Level, std::string_view s) {
    log_.emplace_back(s);
  }};
  IOLoop loop_;
};

// A sleep's future completed by someone else (it is a plain Future anyone
// may complete), then its loop closed and destroyed: the future must not
// name the dead loop's TimerCancel hook (its state's destructor calls
// hook_released on it).
TEST_F(CancelReviewTest, SleepCompletedElsewhereOutlivesItsLoop) {
  // (A unique_ptr, not std::optional: GCC 12 under TSan warns falsely
  // about an optional<Future>'s destruction.)
  auto s = std::make_unique<Future<void>>();
  {
    IOLoop other;
    other.make_current();
    *s = gen::sleep(1h);
    s->set_result();  // e.g. chain_future(x, s), or a test double
    other.close();    // drops the timer's callable
  }
  loop_.make_current();
  EXPECT_TRUE(s->done());
  EXPECT_FALSE(s->cancel());
  s.reset();  // the state goes: it must not reach the dead loop
}

// A chain of N coroutines each awaiting the next (built bottom-up, so
// that building it does not recurse): completing it does not recurse per
// level (gen_test's deep chain), and cancelling it must not either.
Future<int> level(Future<int> inner) { co_return 1 + co_await inner; }

TEST_F(CancelReviewTest, CancellingADeepChainDoesNotRecursePerLevel) {
  constexpr int kDepth = 100000;
  Future<int> leaf;
  Future<int> top = leaf;
  for (int i = 0; i < kDepth; ++i) top = level(top);
  EXPECT_FALSE(top.done());
  EXPECT_TRUE(top.cancel());
  EXPECT_TRUE(leaf.cancelled());
  run_until_done(top);
  EXPECT_TRUE(top.cancelled());
}

TEST_F(CancelReviewTest, CompletingTheSameDeepChainDoesNotRecurse) {
  // The baseline: the same chain completes without deep recursion.
  constexpr int kDepth = 100000;
  Future<int> leaf;
  Future<int> top = leaf;
  for (int i = 0; i < kDepth; ++i) top = level(top);
  leaf.set_result(0);
  run_until_done(top);
  EXPECT_EQ(top.result(), kDepth);
}

}  // namespace
}  // namespace tornado
