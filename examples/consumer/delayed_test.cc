#include "delayed.h"

#include "gtest/gtest.h"

TEST(ConsumerTest, DelayedFutureCompletesOnTheLoop) {
  tornado::IOLoop loop;
  tornado::Future<int> f = delayed(loop, std::chrono::milliseconds(1), 7);
  EXPECT_FALSE(f.done());
  EXPECT_EQ(loop.run_sync([&] { return f; }), 7);
}
