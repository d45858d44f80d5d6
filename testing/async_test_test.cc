// The testing kit tested with itself: run() with values, exceptions and a
// timeout that reports the coroutine dump; ExpectLog; unexpected ERROR
// lines failing a test; teardown that closes quietly.

#include "tornado/testing/async_test.h"
#include "tornado/testing/testing.h"  // the umbrella header compiles too

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

namespace tornado::testing {
namespace {

using namespace std::chrono_literals;

class KitTest : public AsyncTest {};

Future<int> add_later(int a, int b) {
  co_await gen::sleep(1ms);
  co_return a + b;
}

TEST_F(KitTest, RunsACoroutineBodyOnAFreshCurrentLoop) {
  EXPECT_EQ(&IOLoop::current(), &loop());
  int got = run([]() -> Future<int> {
    int x = co_await add_later(2, 3);
    co_return x * 2;
  });
  EXPECT_EQ(got, 10);
  EXPECT_THROW(run([]() -> Future<void> {
                 co_await gen::moment;
                 throw std::domain_error("body failed");
               }),
               std::domain_error);
}

Future<void> stuck_leaf(Future<void> never) { co_await never; }
Future<void> stuck_root(Future<void> never) { co_await stuck_leaf(never); }

TEST_F(KitTest, ATimeoutFailsWithTheCoroutineDump) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD,
        &results);
    Future<void> never;
    EXPECT_THROW(run([&] { return stuck_root(never); }, 20ms), TimeoutError);
  }
  ASSERT_EQ(results.size(), 1);
  const std::string message = results.GetTestPartResult(0).message();
  EXPECT_NE(message.find("did not finish within 20 ms"), std::string::npos) << message;
  EXPECT_NE(message.find("stuck_root"), std::string::npos) << message;
  EXPECT_NE(message.find("stuck_leaf"), std::string::npos) << message;
}

TEST_F(KitTest, ExpectLogAcceptsTheExpectedErrorLine) {
  ExpectLog expect(*this, "Exception in callback");
  loop().add_callback([] { throw std::runtime_error("expected failure"); });
  run([] { return gen::sleep(1ms); });
  EXPECT_EQ(expect.count(), 1);
}

// A fixture driven by hand, to watch its verdicts.
class Probe : public AsyncTest {
 public:
  void TestBody() override {}
  using AsyncTest::TearDown;
};

TEST(AsyncTestVerdicts, AnUnexpectedErrorLineFailsTheTest) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD,
        &results);
    Probe probe;
    probe.loop().add_callback([] { throw std::runtime_error("nobody expected me"); });
    probe.run([] { return gen::sleep(1ms); });
    probe.TearDown();
  }
  ASSERT_EQ(results.size(), 1);
  const std::string message = results.GetTestPartResult(0).message();
  EXPECT_NE(message.find("unexpected ERROR log line"), std::string::npos) << message;
  EXPECT_NE(message.find("nobody expected me"), std::string::npos) << message;
}

TEST(AsyncTestVerdicts, AMissingExpectedLineFailsTheTest) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD,
        &results);
    Probe probe;
    { ExpectLog expect(probe, "this is never logged"); }
    probe.TearDown();
  }
  ASSERT_EQ(results.size(), 1);
  EXPECT_NE(std::string(results.GetTestPartResult(0).message()).find("this is never logged"),
            std::string::npos);
}

Future<void> fails_when_closed(Future<void> never) {
  co_await never;
}

TEST(AsyncTestVerdicts, TeardownClosesQuietlyAndRestoresTheCurrentLoop) {
  IOLoop* before = IOLoop::current_or_null();
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD,
        &results);
    Probe probe;
    Future<void> never;
    Future<void> f = fails_when_closed(never);  // destroyed by the close
    probe.loop().add_callback([] {});           // drained first
    probe.TearDown();
  }
  EXPECT_EQ(results.size(), 0);
  EXPECT_EQ(IOLoop::current_or_null(), before);
}

struct FakeServer {
  void listen(int port, const std::string& address) {
    listened_port = port;
    listened_address = address;
  }
  int port() const { return 4242; }
  int listened_port = -1;
  std::string listened_address;
};

TEST_F(KitTest, ListenOnUnusedPortAsksForPortZeroOnLoopback) {
  FakeServer server;
  EXPECT_EQ(listen_on_unused_port(server), 4242);
  EXPECT_EQ(server.listened_port, 0);
  EXPECT_EQ(server.listened_address, "127.0.0.1");
}

}  // namespace
}  // namespace tornado::testing

namespace tornado::testing {
namespace {

TEST_F(KitTest, RunOnceRunsOneIteration) {
  int first = 0, second = 0;
  loop().add_callback([&] {
    ++first;
    loop().add_callback([&] { ++second; });  // the next iteration's
  });
  run_once();
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 0);
  run_once();
  EXPECT_EQ(second, 1);
}

TEST_F(KitTest, RunUntilDoneLeavesTheOutcomeUnread) {
  Future<std::unique_ptr<int>> f;
  loop().call_later(2ms, [f]() mutable { f.set_result(std::make_unique<int>(4)); });
  run_until_done(f);
  ASSERT_TRUE(f.done());
  EXPECT_EQ(*f.take_result(), 4);  // still there: run_until_done did not take it
  Future<void> failed;
  failed.set_exception(std::make_exception_ptr(std::runtime_error("x")));
  run_until_done(failed);
  EXPECT_TRUE(holds<std::runtime_error>(failure(failed)));
  EXPECT_FALSE(holds<std::logic_error>(failure(failed)));
}

}  // namespace
}  // namespace tornado::testing
