// Soundness of the loop under misuse and bad luck: who owns what, what a
// failed scheduling call leaves behind, what outlives the loop, and time
// arithmetic at the edges. Each test reproduces a defect found in review
// (it crashed, hung, leaked or read freed memory before the fix); the
// comments say what used to happen.

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/ioloop/periodic_callback.h"
#include "tornado/logging/logging.h"
#include "tornado/stack_context/stack_context.h"
#include "tornado/testing/run_loop.h"

// ---- Allocation failure injection ----------------------------------------------
//
// `FailAfter guard(n)` makes the (n+1)-th allocation on this thread throw
// std::bad_alloc. Sanitizers may keep their own operator new; tests then
// skip (injection_works()).

namespace {
constinit thread_local long tls_fail_countdown = -1;
}  // namespace

void* operator new(std::size_t n) {
  if (tls_fail_countdown >= 0 && tls_fail_countdown-- == 0) {
    throw std::bad_alloc();
  }
  void* p = std::malloc(n != 0 ? n : 1);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace tornado {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class FailAfter {
 public:
  explicit FailAfter(long n) { tls_fail_countdown = n; }
  ~FailAfter() { tls_fail_countdown = -1; }
};

bool injection_works() {
  FailAfter guard(0);
  try {
    int* p = new int(1);
    delete p;
    return false;
  } catch (const std::bad_alloc&) {
    return true;
  }
}

// Runs `loop` until `done()` or `limit`.
using testing::run_for;
using testing::run_until;

// ---- 1. run_sync owns what it runs ----------------------------------------------

// A nested run_sync used to throw from start() with its callback (holding
// `&func`) still queued, and to bump the serial that arms the outer call's
// stop and timeout: the outer run_sync(…, 200ms) then ran for seconds and
// the queued callback later called the destroyed `func`.
TEST(RunSyncOwnership, NestedRunSyncFailsCleanlyAndLeavesTheOuterIntact) {
  IOLoop loop;
  int inner_calls = 0;
  bool caught = false;
  Future<int> never;
  auto late = loop.call_later(1500ms, [never]() mutable {
    if (!never.done()) never.set_result(-1);
  });
  const auto t0 = Clock::now();
  EXPECT_THROW(loop.run_sync(
                   [&]() -> Future<int> {
                     try {
                       auto token = std::make_shared<int>(1);
                       loop.run_sync([&inner_calls, token] {
                         ++inner_calls;
                         return *token;
                       });
                     } catch (const std::logic_error&) {
                       caught = true;
                     }
                     return never;
                   },
                   200ms),
               TimeoutError);
  EXPECT_LT(Clock::now() - t0, 1000ms) << "the outer timeout was disarmed";
  EXPECT_TRUE(caught);
  loop.remove_timeout(late);
  // Nothing of the nested call is left to run.
  run_for(loop, 20ms);
  EXPECT_EQ(inner_calls, 0);
}

// A stop() issued while the loop was idle used to make run_sync's start()
// return at once, leaving its callback queued with a dangling `&func`.
TEST(RunSyncOwnership, StrayStopBeforeRunSyncLeavesNothingBehind) {
  IOLoop loop;
  loop.stop();
  int calls = 0;
  {
    auto token = std::make_shared<int>(7);
    EXPECT_EQ(loop.run_sync([&calls, token] {
                ++calls;
                return *token;
              }),
              7);
  }
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(loop.run_sync([] { return 8; }), 8);
  EXPECT_EQ(calls, 1);
}

// ---- 3, 4. Construct, then publish -----------------------------------------------

// Throws on its second move: the first is into add_callback's parameter,
// the second into the loop's queue.
struct ThrowsOnSecondMove {
  explicit ThrowsOnSecondMove(int* ran) : ran(ran) {}
  ThrowsOnSecondMove(ThrowsOnSecondMove&& o) : ran(o.ran), moves(o.moves + 1) {
    if (moves >= 2) throw std::runtime_error("move failed");
  }
  void operator()() { ++*ran; }
  int* ran;
  int moves = 0;
};

// push_fn used to emplace an empty task and then build the callable into
// it: a throwing move left a null task that the next iteration called.
TEST(ConstructThenPublish, ThrowingMoveLeavesTheQueueAsItWas) {
  IOLoop loop;
  int ran = 0, after = 0;
  loop.run_sync([&] {
    ThrowsOnSecondMove cb(&ran);
    EXPECT_THROW(loop.add_callback(std::move(cb)), std::runtime_error);
    ThrowsOnSecondMove cb2(&ran);
    EXPECT_THROW(loop.spawn_callback(std::move(cb2)), std::runtime_error);
    loop.add_callback([&] { ++after; });
  });
  run_for(loop, 5ms);
  EXPECT_EQ(ran, 0);
  EXPECT_EQ(after, 1);
}

struct Big {
  char pad[128] = {};
  int* counter;
  void operator()() { ++*counter; }
};

// Every allocation of add_callback (on the loop thread and from another
// thread) and of call_later failing in turn: each call either succeeds and
// runs once, or throws and leaves nothing behind.
TEST(ConstructThenPublish, BadAllocInSchedulingGivesTheStrongGuarantee) {
  if (!injection_works()) GTEST_SKIP() << "operator new is the sanitizer's";
  IOLoop loop;
  int ran = 0, accepted = 0;
  loop.run_sync([&] {
    for (long n = 0; n < 40; ++n) {
      FailAfter guard(n);
      try {
        loop.add_callback(Big{{}, &ran});
        ++accepted;
      } catch (const std::bad_alloc&) {
      }
    }
  });
  run_for(loop, 5ms);
  EXPECT_EQ(ran, accepted);

  ran = accepted = 0;
  std::thread([&] {
    for (long n = 0; n < 40; ++n) {
      FailAfter guard(n);
      try {
        loop.add_callback(Big{{}, &ran});
        ++accepted;
      } catch (const std::bad_alloc&) {
      }
    }
  }).join();
  run_for(loop, 5ms);
  EXPECT_EQ(ran, accepted);

  ran = accepted = 0;
  for (long n = 0; n < 60; ++n) {
    FailAfter guard(n);
    try {
      loop.call_later(1ms, Big{{}, &ran});
      ++accepted;
    } catch (const std::bad_alloc&) {
    }
    tls_fail_countdown = -1;
    ASSERT_EQ(loop.pending_timeouts(), static_cast<size_t>(accepted)) << n;
  }
  run_for(loop, 20ms);
  EXPECT_EQ(ran, accepted);
  EXPECT_EQ(loop.pending_timeouts(), 0u);

  ran = accepted = 0;
  Future<int> f;
  for (long n = 0; n < 40; ++n) {
    FailAfter guard(n);
    try {
      loop.add_future(f, [big = Big{{}, &ran}](Future<int>) mutable { big(); });
      ++accepted;
    } catch (const std::bad_alloc&) {
    }
  }
  f.set_result(1);
  run_for(loop, 5ms);
  EXPECT_EQ(ran, accepted);
}

// add_handler used to register the fd with the poller before allocating
// its entry: on bad_alloc the fd stayed registered with no handler, and
// the next add_handler failed with EEXIST.
TEST(ConstructThenPublish, BadAllocInAddHandlerLeavesTheFdUnregistered) {
  if (!injection_works()) GTEST_SKIP() << "operator new is the sanitizer's";
  IOLoop loop;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  int failures = 0;
  for (long n = 0; n < 40; ++n) {
    bool threw = false;
    {
      FailAfter guard(n);
      try {
        loop.add_handler(sv[0], [](int, uint32_t) {}, IOLoop::READ);
      } catch (const std::bad_alloc&) {
        threw = true;
      }
    }
    if (!threw) {
      loop.remove_handler(sv[0]);
      break;
    }
    ++failures;
  }
  EXPECT_GT(failures, 0);
  int calls = 0;
  ASSERT_NO_THROW(loop.add_handler(
      sv[0],
      [&](int fd, uint32_t) {
        char c;
        EXPECT_EQ(read(fd, &c, 1), 1);
        ++calls;
        loop.stop();
      },
      IOLoop::READ));
  ASSERT_EQ(write(sv[1], "x", 1), 1);
  run_until(loop, [&] { return calls > 0; });
  EXPECT_EQ(calls, 1);
  loop.remove_handler(sv[0]);
  close(sv[0]);
  close(sv[1]);
}

// ---- 5, 8, 9. Nothing outlives what it points to ---------------------------------

// add_future's callback held a raw IOLoop*: completing the future after the
// loop was destroyed wrote into freed memory.
TEST(NothingOutlivesTheLoop, AddFutureCallbackAfterTheLoopIsDestroyed) {
  Future<int> f;
  int calls = 0;
  {
    IOLoop loop;
    loop.add_future(f, [&](Future<int>) { ++calls; });
  }
  f.set_result(1);
  EXPECT_EQ(calls, 0);
}

TEST(NothingOutlivesTheLoop, AddFutureCallbackAfterTheLoopIsClosed) {
  std::vector<std::string> lines;
  logging::ScopedSink sink([&](logging::Level, std::string_view s) {
    lines.emplace_back(s);
  });
  Future<int> f;
  int calls = 0;
  IOLoop loop;
  loop.add_future(f, [&](Future<int>) { ++calls; });
  loop.close();
  f.set_result(1);
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(lines.empty()) << lines.front();
}

// close() cleared the thread's current loop only when it was that loop,
// and start()'s restore reinstalled a loop destroyed meanwhile.
TEST(NothingOutlivesTheLoop, CurrentNeverReturnsADestroyedLoop) {
  IOLoop::instance();  // made first: it must not reuse a's address
  std::thread([] {
    IOLoop b;
    auto* a = new IOLoop;
    a->make_current();
    b.run_sync([&] { delete a; });
    EXPECT_NE(IOLoop::current_or_null(), a);
    EXPECT_NE(&IOLoop::current(), a);
  }).join();
}

TEST(NothingOutlivesTheLoop, CurrentNeverReturnsALoopClosedWhileAnotherRan) {
  std::thread([] {
    IOLoop b;
    IOLoop a;
    a.make_current();
    b.run_sync([&] { a.close(); });
    EXPECT_NE(IOLoop::current_or_null(), &a);
  }).join();
}

// Fits add_callback_from_signal's two pointers; counts its destruction.
struct SignalProbe {
  explicit SignalProbe(int* destroyed) : destroyed(destroyed) {}
  SignalProbe(SignalProbe&& o) noexcept : destroyed(std::exchange(o.destroyed, nullptr)) {}
  ~SignalProbe() {
    if (destroyed != nullptr) ++*destroyed;
  }
  void operator()() {}
  int* destroyed;
};

// After close() it returned true and never destroyed the callable (LSan).
TEST(NothingOutlivesTheLoop, AddCallbackFromSignalAfterCloseDropsTheCallable) {
  int destroyed = 0;
  {
    IOLoop loop;
    loop.close();
    EXPECT_FALSE(loop.add_callback_from_signal(SignalProbe(&destroyed)));
    EXPECT_EQ(destroyed, 1);
  }
  EXPECT_EQ(destroyed, 1);
  // Queued before close: destroyed, not run, by close.
  destroyed = 0;
  IOLoop loop;
  EXPECT_TRUE(loop.add_callback_from_signal(SignalProbe(&destroyed)));
  loop.close();
  EXPECT_EQ(destroyed, 1);
}

// ---- 7. PeriodicCallback ------------------------------------------------------------

// stop(); start(); inside its own callback started a second timer chain;
// the destructor cancelled one and the other ran on the freed object.
TEST(PeriodicCallbackLifetime, StopAndStartInsideTheCallbackKeepOneChain) {
  IOLoop loop;
  int calls = 0;
  PeriodicCallback* self = nullptr;
  auto pc = std::make_unique<PeriodicCallback>(
      [&] {
        ++calls;
        self->stop();
        self->start();
        if (calls == 5) loop.stop();
      },
      1ms, &loop);
  self = pc.get();
  pc->start();
  run_until(loop, [&] { return calls >= 5; });
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(loop.pending_timeouts(), 1u);
  pc.reset();
  EXPECT_EQ(loop.pending_timeouts(), 0u);
  run_for(loop, 10ms);
  EXPECT_EQ(calls, 5);
}

TEST(PeriodicCallbackLifetime, DestroyedInsideItsOwnCallback) {
  IOLoop loop;
  int calls = 0;
  std::unique_ptr<PeriodicCallback> pc;
  pc = std::make_unique<PeriodicCallback>(
      [&] {
        ++calls;
        pc.reset();  // the callable itself dies here
      },
      1ms, &loop);
  pc->start();
  run_for(loop, 20ms);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(loop.pending_timeouts(), 0u);
}

TEST(PeriodicCallbackLifetime, OutlivingItsLoopIsHarmless) {
  int calls = 0;
  std::unique_ptr<PeriodicCallback> pc;
  {
    IOLoop loop;
    pc = std::make_unique<PeriodicCallback>([&] { ++calls; }, 1ms, &loop);
    pc->start();
    run_for(loop, 5ms);
  }
  const int before = calls;
  pc->stop();  // the loop is gone: nothing to withdraw
  EXPECT_THROW(pc->start(), std::logic_error);
  EXPECT_FALSE(pc->is_running());
  pc.reset();
  EXPECT_EQ(calls, before);
}

// A PeriodicCallback made before make_current() used to bind to the
// never-run IOLoop::instance(); it runs on the loop it is started on.
TEST(PeriodicCallbackLifetime, BindsToTheLoopItIsStartedOn) {
  std::thread([] {
    IOLoop::Options o;
    o.make_current = false;
    IOLoop loop(o);
    int calls = 0;
    PeriodicCallback pc([&] { ++calls; }, 1ms);  // no loop yet
    loop.make_current();
    pc.start();
    run_until(loop, [&] { return calls > 0; });
    EXPECT_GT(calls, 0);
    pc.stop();
    EXPECT_EQ(loop.pending_timeouts(), 0u);
  }).join();
}

// ---- 11. Time arithmetic saturates --------------------------------------------------

TEST(TimeSaturates, RunSyncWithAHugeTimeoutDoesNotTimeOut) {
  IOLoop loop;
  EXPECT_EQ(loop.run_sync([] { return 3; }, std::chrono::seconds::max()), 3);
  EXPECT_EQ(loop.run_sync([] { return 4; }, std::chrono::hours::max()), 4);
  EXPECT_EQ(loop.run_sync([] { return 5; }, IOLoop::duration::max()), 5);
}

TEST(TimeSaturates, HugeDelaysNeverFire) {
  IOLoop loop;
  int fired = 0;
  loop.call_later(std::chrono::hours::max(), [&] { ++fired; });
  loop.call_later(std::chrono::seconds::max(), [&] { ++fired; });
  loop.call_later(std::chrono::duration<double>(1e300), [&] { ++fired; });
  loop.call_at(IOLoop::time_point::max(), [&] { ++fired; });
  loop.add_timeout(std::chrono::hours::max(), [&] { ++fired; });
  run_for(loop, 20ms);
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(loop.pending_timeouts(), 5u);
}

TEST(TimeSaturates, PastDeadlinesFireAtOnce) {
  IOLoop loop;
  int fired = 0;
  loop.call_at(IOLoop::time_point::min(), [&] { ++fired; });
  loop.call_later(std::chrono::hours::min(), [&] { ++fired; });
  loop.call_later(-std::chrono::seconds::max(), [&] { ++fired; });
  // A watchdog wakes the loop if its poll blocks (it used to, for up to an
  // hour, on a deadline at time_point::min()).
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 200 && !done; ++i) std::this_thread::sleep_for(10ms);
    if (!done) loop.add_callback([&] { loop.stop(); });
  });
  const auto t0 = Clock::now();
  loop.call_later(1ms, [&] {
    if (fired == 3) loop.stop();
  });
  loop.start();
  done = true;
  watchdog.join();
  EXPECT_EQ(fired, 3);
  EXPECT_LT(Clock::now() - t0, 1000ms);
}

TEST(TimeSaturates, PeriodicCallbackWithAHugePeriod) {
  IOLoop loop;
  int calls = 0;
  PeriodicCallback pc([&] { ++calls; }, std::chrono::hours::max(), &loop);
  pc.start();
  run_for(loop, 10ms);
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(pc.is_running());
}

// ---- 12. A new loop becomes current when the thread has none ---------------------

TEST(CurrentLoop, ANewLoopBecomesCurrentWhenTheThreadHasNone) {
  std::thread([] {
    ASSERT_EQ(IOLoop::current_or_null(), nullptr);
    IOLoop first;
    EXPECT_EQ(IOLoop::current_or_null(), &first);
    IOLoop second;  // the thread has one already
    EXPECT_EQ(IOLoop::current_or_null(), &first);
  }).join();
}

// ---- 13. A wrapped callable keeps only its own contexts ----------------------------

class RecordingLoop : public IOLoop {
 public:
  void handle_callback_exception(std::exception_ptr) override { ++unhandled; }
  int unhandled = 0;
};

TEST(WrappedCallables, KeepOnlyTheirOwnContexts) {
  RecordingLoop loop;
  auto thrower = stack_context::wrap([] { throw std::runtime_error("x"); });
  auto thrower_fd = stack_context::wrap([](int fd, uint32_t) {
    char c;
    EXPECT_EQ(read(fd, &c, 1), 1);
    throw std::runtime_error("x");
  });
  auto thrower_future = stack_context::wrap([](Future<int>) {
    throw std::runtime_error("x");
  });
  int outer_saw = 0;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  Future<int> f;
  {
    ExceptionStackContext outer([&](std::exception_ptr) {
      ++outer_saw;
      return true;
    });
    loop.add_callback(thrower);
    loop.call_later(1ms, thrower);
    loop.call_at(loop.time(), thrower);
    loop.add_timeout(1ms, thrower);
    loop.add_future(f, thrower_future);
    loop.add_handler(sv[0], thrower_fd, IOLoop::READ);
  }
  f.set_result(1);
  ASSERT_EQ(write(sv[1], "x", 1), 1);
  run_until(loop, [&] { return loop.unhandled >= 6; });
  loop.remove_handler(sv[0]);
  EXPECT_EQ(outer_saw, 0);
  EXPECT_EQ(loop.unhandled, 6);
  close(sv[0]);
  close(sv[1]);
}

// ---- 16. Closing does not wait for running executor work ---------------------------

TEST(ExecutorShutdown, CloseDoesNotJoinRunningTasks) {
  std::atomic<bool> finished{false};
  Clock::duration close_took{};
  {
    IOLoop loop;
    Future<int> r = loop.run_in_executor([&] {
      std::this_thread::sleep_for(600ms);
      finished = true;
      return 1;
    });
    run_for(loop, 5ms);
    const auto t0 = Clock::now();
    loop.close();
    close_took = Clock::now() - t0;
    EXPECT_FALSE(r.done());
  }
  EXPECT_LT(close_took, 300ms);
  // The worker finishes after the loop is gone: harmless (asan).
  while (!finished) std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(50ms);
}

TEST(ExecutorShutdown, ATaskWaitingOnTheLoopDoesNotDeadlockClose) {
  std::promise<void> from_loop;
  std::shared_future<void> waited = from_loop.get_future().share();
  std::atomic<bool> finished{false};
  const auto t0 = Clock::now();
  {
    IOLoop loop;
    auto r = loop.run_in_executor([waited, &finished] {
      waited.wait_for(1500ms);  // the loop never sets it
      finished = true;
    });
    run_for(loop, 5ms);
  }
  EXPECT_LT(Clock::now() - t0, 1000ms);
  while (!finished) std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(20ms);
}

TEST(ExecutorShutdown, ZeroThreadsIsRejected) {
  IOLoop::Options o;
  o.executor_threads = 0;
  EXPECT_THROW(IOLoop{o}, std::invalid_argument);
  o.executor_threads = -1;
  EXPECT_THROW(IOLoop{o}, std::invalid_argument);
}

}  // namespace
}  // namespace tornado
