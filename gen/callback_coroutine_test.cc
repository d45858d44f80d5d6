// Callables that return a Future (coroutine lambdas) given to the loop:
// `spawn_callback(coro)` as in Tornado, and the same for add_callback,
// timeouts, fd handlers, add_future, PeriodicCallback and run_sync. The
// loop keeps the callable (and so the lambda's captures) alive until the
// coroutine has finished, and reports its exception as a throwing
// callback's. None of this compiled before (a `Future` return value hit
// InlineFunction's `void` invoke).

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tornado/gen/gen.h"
#include "gtest/gtest.h"
#include "tornado/ioloop/periodic_callback.h"
#include "tornado/logging/logging.h"
#include "tornado/stack_context/stack_context.h"
#include "tornado/testing/run_loop.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

class RecordingLoop : public IOLoop {
 public:
  RecordingLoop() { make_current(); }
  void handle_callback_exception(std::exception_ptr e) override {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      errors.emplace_back(ex.what());
    }
  }
  std::vector<std::string> errors;
};

using testing::run_for;
using testing::run_until;

TEST(CallbackCoroutines, SpawnCallbackKeepsTheLambdaAliveAcrossSuspension) {
  RecordingLoop loop;
  Future<void> gate;
  int out = 0;
  auto state = std::make_shared<int>(41);
  std::weak_ptr<int> weak = state;
  loop.spawn_callback([state = std::move(state), gate, &out]() -> Future<void> {
    co_await gate;
    out = *state + 1;  // the capture, read after the callback returned
  });
  run_for(loop, 2ms);
  EXPECT_FALSE(weak.expired());
  gate.set_result();
  run_for(loop, 2ms);
  EXPECT_EQ(out, 42);
  EXPECT_TRUE(weak.expired());
  EXPECT_TRUE(loop.errors.empty());
}

TEST(CallbackCoroutines, ExceptionsAreReportedAsACallbacksWouldBe) {
  RecordingLoop loop;
  loop.spawn_callback([]() -> Future<void> {
    co_await gen::moment;
    throw std::runtime_error("spawned failed");
  });
  loop.spawn_callback([]() -> Future<int> {
    throw std::runtime_error("failed at once");
    co_return 1;
  });
  run_until(loop, [&] { return loop.errors.size() >= 2; });
  ASSERT_EQ(loop.errors.size(), 2u);
  EXPECT_EQ(loop.errors[0], "failed at once");
  EXPECT_EQ(loop.errors[1], "spawned failed");
}

TEST(CallbackCoroutines, AddCallbackReportsThroughTheAddSitesContexts) {
  RecordingLoop loop;
  int handled = 0;
  {
    ExceptionStackContext ctx([&](std::exception_ptr) {
      ++handled;
      return true;
    });
    loop.add_callback([]() -> Future<void> {
      co_await gen::moment;
      throw std::runtime_error("in context");
    });
  }
  run_until(loop, [&] { return handled > 0 || !loop.errors.empty(); });
  EXPECT_EQ(handled, 1);
  EXPECT_TRUE(loop.errors.empty());
}

TEST(CallbackCoroutines, TimeoutsHandlersFuturesAndPeriodicCallbacks) {
  RecordingLoop loop;
  int timer = 0, handler = 0, after_future = 0, periodic = 0;
  loop.call_later(1ms, [&]() -> Future<void> {
    co_await gen::moment;
    ++timer;
  });
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  loop.add_handler(
      sv[0],
      [&](int fd, uint32_t) -> Future<void> {
        char c;
        EXPECT_EQ(read(fd, &c, 1), 1);
        co_await gen::moment;
        ++handler;
      },
      IOLoop::READ);
  ASSERT_EQ(write(sv[1], "x", 1), 1);
  Future<int> f;
  loop.add_future(f, [&](Future<int> done) -> Future<void> {
    co_await gen::moment;
    after_future = done.result();
  });
  f.set_result(7);
  PeriodicCallback pc(
      [&]() -> Future<void> {
        co_await gen::moment;
        ++periodic;
      },
      1ms);
  pc.start();
  run_until(loop, [&] {
    return timer == 1 && handler == 1 && after_future == 7 && periodic >= 1;
  });
  pc.stop();
  loop.remove_handler(sv[0]);
  close(sv[0]);
  close(sv[1]);
  EXPECT_EQ(timer, 1);
  EXPECT_EQ(handler, 1);
  EXPECT_EQ(after_future, 7);
  EXPECT_GE(periodic, 1);
  EXPECT_TRUE(loop.errors.empty());
}

TEST(CallbackCoroutines, OtherReturnValuesAreIgnored) {
  RecordingLoop loop;
  int ran = 0;
  loop.add_callback([&] { return ++ran; });
  loop.call_later(1ms, [&] { return std::string("ignored"); });
  run_for(loop, 5ms);
  EXPECT_EQ(ran, 1);
}

TEST(CallbackCoroutines, RunSyncAcceptsAFuture) {
  IOLoop loop;
  loop.make_current();
  Future<int> f = gen::maybe_future(3);
  EXPECT_EQ(loop.run_sync(f), 3);
  auto coro = []() -> Future<int> {
    co_await gen::moment;
    co_return 4;
  };
  EXPECT_EQ(loop.run_sync(coro()), 4);
}

TEST(CallbackCoroutines, ClosingTheLoopReleasesUnfinishedCallbackCoroutines) {
  auto state = std::make_shared<int>(0);
  std::weak_ptr<int> weak = state;
  {
    RecordingLoop loop;
    Future<void> never;
    loop.spawn_callback([state = std::move(state), never]() -> Future<void> {
      co_await never;
      ++*state;
    });
    run_for(loop, 2ms);
    EXPECT_FALSE(weak.expired());
  }
  EXPECT_TRUE(weak.expired());
}

// Tornado 4.5's make_current argument.
TEST(CurrentLoopOptions, MakeCurrentTrueFalseAndUnset) {
  std::thread([] {
    IOLoop::Options never;
    never.make_current = false;
    IOLoop a(never);
    EXPECT_EQ(IOLoop::current_or_null(), nullptr);
    IOLoop::Options always;
    always.make_current = true;
    IOLoop b(always);
    EXPECT_EQ(IOLoop::current_or_null(), &b);
    EXPECT_THROW(IOLoop{always}, std::logic_error);  // b is current
    IOLoop c;  // unset: the thread has one already
    EXPECT_EQ(IOLoop::current_or_null(), &b);
    b.close();
    EXPECT_EQ(IOLoop::current_or_null(), nullptr);
    IOLoop d;
    EXPECT_EQ(IOLoop::current_or_null(), &d);
  }).join();
}

}  // namespace
}  // namespace tornado
