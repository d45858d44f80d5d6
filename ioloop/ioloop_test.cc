// Ports the behaviours of Tornado 4.5's ioloop_test.py that make sense in
// C++. Every test runs against both pollers (epoll with an eventfd waker,
// poll(2) with the document's pipe waker): Tornado's "one suite, every
// implementation".

#include "tornado/ioloop/ioloop.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tornado/ioloop/periodic_callback.h"
#include "tornado/logging/logging.h"
#include "tornado/stack_context/stack_context.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct LoopKind {
  IOLoop::PollerKind poller;
  IOLoop::WakerKind waker;
  const char* name;
};

class IOLoopTest : public ::testing::TestWithParam<LoopKind> {
 protected:
  IOLoopTest() : loop_(options()) {}
  ~IOLoopTest() override {
    for (int fd : fds_) close(fd);
  }

  IOLoop::Options options() const {
    IOLoop::Options o;
    o.poller = GetParam().poller;
    o.waker = GetParam().waker;
    return o;
  }

  // Runs the loop until stop(), failing (and stopping) after `limit`.
  void run(std::chrono::milliseconds limit = 5000ms) {
    bool timed_out = false;
    auto guard = loop_.call_later(limit, [&] {
      timed_out = true;
      loop_.stop();
    });
    loop_.start();
    loop_.remove_timeout(guard);
    ASSERT_FALSE(timed_out) << "the loop did not stop within " << limit.count()
                            << " ms";
  }

  std::pair<int, int> socketpair_nonblocking() {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    fds_.push_back(sv[0]);
    fds_.push_back(sv[1]);
    return {sv[0], sv[1]};
  }

  std::vector<std::string> log_;
  logging::ScopedSink sink_{[this](logging::Level, std::string_view s) {
    log_.emplace_back(s);
  }};
  IOLoop loop_;
  std::vector<int> fds_;
};

INSTANTIATE_TEST_SUITE_P(
    Pollers, IOLoopTest,
    ::testing::Values(LoopKind{IOLoop::PollerKind::kEpoll,
                               IOLoop::WakerKind::kEventfd, "epoll_eventfd"},
                      LoopKind{IOLoop::PollerKind::kPoll,
                               IOLoop::WakerKind::kPipe, "poll_pipe"}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- callbacks ------------------------------------------------------------------

TEST_P(IOLoopTest, PollerIsTheOneAsked) {
  EXPECT_STREQ(loop_.poller_name(),
               GetParam().poller == IOLoop::PollerKind::kEpoll ? "epoll" : "poll");
}

TEST_P(IOLoopTest, CallbacksRunInOrder) {
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) loop_.add_callback([&, i] { order.push_back(i); });
  loop_.add_callback([&] { loop_.stop(); });
  run();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

// Tornado's verified ordering: callbacks queued at the start of an
// iteration run before any due timeout; what they schedule waits.
TEST_P(IOLoopTest, CallbacksBeforeDueTimeoutsAndNewWorkWaits) {
  std::vector<std::string> order;
  auto now = loop_.time();
  loop_.add_timeout(now, [&] { order.push_back("t_due"); });
  loop_.add_callback([&] { order.push_back("cb1"); });
  loop_.add_callback([&] {
    order.push_back("cb2");
    loop_.add_callback([&] { order.push_back("cb3_from_cb2"); });
    loop_.add_timeout(loop_.time() - 1s,
                      [&] { order.push_back("t_from_cb2_past"); });
  });
  loop_.add_timeout(now, [&] { order.push_back("t_due2"); });
  loop_.call_later(20ms, [&] { loop_.stop(); });
  std::this_thread::sleep_for(1ms);
  run();
  EXPECT_EQ(order, (std::vector<std::string>{"cb1", "cb2", "t_due", "t_due2",
                                             "cb3_from_cb2", "t_from_cb2_past"}));
}

TEST_P(IOLoopTest, TimeoutScheduledByTimeoutWaitsForNextIteration) {
  std::vector<std::string> order;
  auto now = loop_.time();
  loop_.add_timeout(now, [&] {
    order.push_back("t1");
    loop_.add_timeout(loop_.time() - 1s, [&] { order.push_back("t_from_t1"); });
    loop_.add_callback([&] { order.push_back("cb_from_t1"); });
  });
  loop_.add_timeout(now, [&] { order.push_back("t2"); });
  loop_.call_later(20ms, [&] { loop_.stop(); });
  run();
  EXPECT_EQ(order,
            (std::vector<std::string>{"t1", "t2", "cb_from_t1", "t_from_t1"}));
}

TEST_P(IOLoopTest, StopDoesNotInterruptTheIteration) {
  std::vector<std::string> order;
  loop_.add_callback([&] {
    order.push_back("a");
    loop_.stop();
    loop_.add_callback([&] {
      order.push_back("c");
      loop_.stop();
    });
  });
  loop_.add_callback([&] { order.push_back("b"); });
  loop_.add_timeout(loop_.time(), [&] { order.push_back("t"); });
  loop_.start();
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "t"}));
  loop_.start();
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "t", "c"}));
}

TEST_P(IOLoopTest, StopBeforeStartMakesStartReturnAtOnce) {
  bool ran = false;
  loop_.add_callback([&] { ran = true; });
  loop_.stop();
  loop_.start();  // returns at once
  EXPECT_FALSE(ran);
  loop_.add_callback([&] { loop_.stop(); });
  run();
  EXPECT_TRUE(ran);
}

TEST_P(IOLoopTest, StartWhileRunningThrows) {
  bool threw = false;
  loop_.add_callback([&] {
    try {
      loop_.start();
    } catch (const std::logic_error&) {
      threw = true;
    }
    loop_.stop();
  });
  run();
  EXPECT_TRUE(threw);
}

TEST_P(IOLoopTest, AddCallbackWakeupFromLoopThread) {
  // test_add_callback_wakeup: a callback added from a timeout runs without
  // the loop sleeping in poll first.
  Clock::time_point added, ran;
  loop_.call_later(5ms, [&] {
    added = Clock::now();
    loop_.add_callback([&] {
      ran = Clock::now();
      loop_.stop();
    });
  });
  run();
  EXPECT_LT(ran - added, 50ms);
}

TEST_P(IOLoopTest, AddCallbackFromOtherThreadWakesBlockedLoop) {
  Clock::time_point sent;
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);  // the loop is blocked in poll
    sent = Clock::now();
    loop_.add_callback([&] { loop_.stop(); });
  });
  auto start = Clock::now();
  run(10000ms);
  auto woke = Clock::now();
  t.join();
  EXPECT_LT(woke - start, 2000ms);  // not the hour-long poll timeout
}

TEST_P(IOLoopTest, AddCallbackFromSignalCalledNormally) {
  EXPECT_TRUE(loop_.add_callback_from_signal([this] { loop_.stop(); }));
  run();
}

IOLoop* g_signal_loop = nullptr;
std::atomic<int> g_signal_runs{0};
void on_sigusr1(int) {
  g_signal_loop->add_callback_from_signal([] {
    g_signal_runs.fetch_add(1);
    g_signal_loop->stop();
  });
}

TEST_P(IOLoopTest, AddCallbackFromARealSignalHandler) {
  g_signal_loop = &loop_;
  g_signal_runs = 0;
  struct sigaction sa {};
  sa.sa_handler = on_sigusr1;
  sigemptyset(&sa.sa_mask);
  struct sigaction old {};
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  // Delivered while the loop is blocked in poll (EINTR).
  loop_.call_later(10ms, [] { raise(SIGUSR1); });
  run();
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(g_signal_runs.load(), 1);
}

TEST_P(IOLoopTest, AddCallbackFromSignalStopsLoopOnOtherThread) {
  IOLoop other(options());
  std::atomic<bool> started{false};
  std::thread t([&] {
    other.add_callback([&] { started = true; });
    other.start();
  });
  while (!started) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(other.add_callback_from_signal([&other] { other.stop(); }));
  t.join();
  other.close();
}

TEST_P(IOLoopTest, AddCallbackWhileClosingOnAnotherThread) {
  // test_add_callback_while_closing: must not crash; after close, the
  // contract is a std::logic_error.
  auto other = std::make_unique<IOLoop>(options());
  std::atomic<bool> closed{false};
  std::thread t([&] {
    other->add_callback([&] { other->stop(); });
    other->start();
    other->close(true);
    closed = true;
  });
  int rejected = 0;
  for (int i = 0; i < 1000; ++i) {
    try {
      other->add_callback([] {});
    } catch (const std::logic_error&) {
      ++rejected;
    }
  }
  t.join();
  EXPECT_TRUE(closed);
  EXPECT_THROW(other->add_callback([] {}), std::logic_error);
}

TEST_P(IOLoopTest, ExceptionInCallbackIsLoggedAndLoopGoesOn) {
  {
    NullContext null;
    loop_.add_callback([] { throw std::runtime_error("in callback"); });
    loop_.add_callback([] { throw 42; });
    loop_.add_callback([&] { loop_.stop(); });
  }
  run();
  ASSERT_EQ(log_.size(), 2u);
  EXPECT_EQ(log_[0], "Exception in callback: std::runtime_error: in callback");
  EXPECT_NE(log_[1].find("not derived from std::exception"), std::string::npos);
}

class RecordingLoop : public IOLoop {
 public:
  using IOLoop::IOLoop;
  void handle_callback_exception(std::exception_ptr e) override {
    seen.push_back(logging::describe(e));
  }
  std::vector<std::string> seen;
};

TEST_P(IOLoopTest, HandleCallbackExceptionCanBeOverridden) {
  RecordingLoop loop(options());
  {
    NullContext null;
    loop.add_callback([] { throw std::domain_error("zero"); });
    loop.add_callback([&] { loop.stop(); });
  }
  loop.start();
  EXPECT_EQ(loop.seen, (std::vector<std::string>{"std::domain_error: zero"}));
}

// test_spawn_callback: add_callback carries the caller's exception context;
// spawn_callback does not.
TEST_P(IOLoopTest, SpawnCallbackEscapesTheCallersContext) {
  std::vector<std::string> handled;
  {
    ExceptionStackContext esc([&](std::exception_ptr e) {
      handled.push_back(logging::describe(e));
      return true;
    });
    loop_.add_callback([] { throw std::runtime_error("added"); });
    loop_.spawn_callback([] { throw std::runtime_error("spawned"); });
    loop_.add_callback([&] { loop_.stop(); });
  }
  run();
  EXPECT_EQ(handled, (std::vector<std::string>{"std::runtime_error: added"}));
  EXPECT_EQ(log_, (std::vector<std::string>{
                      "Exception in callback: std::runtime_error: spawned"}));
}

// test_pre_wrap: a callable wrapped under c1 and added under c2 runs in c1.
TEST_P(IOLoopTest, PreWrappedCallbackKeepsItsContexts) {
  Local<std::string> name;
  std::string seen;
  std::function<void()> f;
  {
    Local<std::string>::Scope c1(name, "c1");
    f = stack_context::wrap([&] {
      seen = *name.get();
      loop_.stop();
    });
  }
  {
    Local<std::string>::Scope c2(name, "c2");
    loop_.add_callback(f);
  }
  run();
  EXPECT_EQ(seen, "c1");
}

TEST_P(IOLoopTest, ContextsFollowCallbacksTimeoutsAndHandlers) {
  Local<int> id;
  std::vector<int> seen;
  auto fds1 = socketpair_nonblocking();  // no structured binding: clang 14 cannot capture one
  int a = fds1.first, b = fds1.second;
  {
    Local<int>::Scope scope(id, 7);
    loop_.add_callback([&] { seen.push_back(*id.get()); });
    loop_.call_later(1ms, [&] { seen.push_back(*id.get() + 1); });
    loop_.add_handler(
        a,
        [&, a = a](int fd, uint32_t) {
          char buf[8];
          EXPECT_EQ(read(fd, buf, sizeof buf), 1);
          seen.push_back(*id.get() + 2);
          loop_.remove_handler(a);
          loop_.stop();
        },
        IOLoop::READ);
  }
  loop_.call_later(5ms, [b = b] { EXPECT_EQ(write(b, "x", 1), 1); });
  run();
  EXPECT_EQ(id.get(), nullptr);
  EXPECT_EQ(seen, (std::vector<int>{7, 8, 9}));
}

// ---- add_future -----------------------------------------------------------------

TEST_P(IOLoopTest, AddFutureIsNeverInline) {
  Future<int> f;
  f.set_result(1);
  std::vector<std::string> order;
  loop_.add_future(f, [&](Future<int> g) {
    order.push_back("callback " + std::to_string(g.result()));
    loop_.stop();
  });
  order.push_back("after add_future");
  run();
  EXPECT_EQ(order,
            (std::vector<std::string>{"after add_future", "callback 1"}));
}

TEST_P(IOLoopTest, AddFutureCallbackRunsInContextsOfAddFuture) {
  Local<std::string> where;
  std::string seen;
  Future<void> f;
  {
    Local<std::string>::Scope s(where, "at add_future");
    loop_.add_future(f, [&](Future<void>) {
      seen = *where.get();
      loop_.stop();
    });
  }
  {
    Local<std::string>::Scope s(where, "at completion");
    loop_.add_callback([f]() mutable { f.set_result(); });
  }
  run();
  EXPECT_EQ(seen, "at add_future");
}

// ---- timeouts ---------------------------------------------------------------------

TEST_P(IOLoopTest, TimeoutVariantsKeepOrder) {
  // test_timeout_with_arguments
  std::vector<int> out;
  loop_.add_timeout(loop_.time(), [&] { out.push_back(1); });
  loop_.add_timeout(0s, [&] { out.push_back(2); });
  loop_.call_at(loop_.time(), [&] { out.push_back(3); });
  loop_.call_later(0ms, [&] { out.push_back(4); });
  loop_.call_later(0ms, [&] { loop_.stop(); });
  run();
  EXPECT_EQ(out, (std::vector<int>{1, 2, 3, 4}));
}

TEST_P(IOLoopTest, AddTimeoutDurationFires) {
  loop_.add_timeout(1us, [&] { loop_.stop(); });
  run();
}

TEST_P(IOLoopTest, RemoveTimeoutBeforeAndAfterFiring) {
  bool ran = false;
  auto t = loop_.call_later(1ms, [&] { ran = true; });
  loop_.remove_timeout(t);
  auto fired = loop_.call_later(2ms, [] {});
  loop_.call_later(10ms, [&] { loop_.stop(); });
  run();
  EXPECT_FALSE(ran);
  loop_.remove_timeout(fired);  // after it ran: harmless
  loop_.remove_timeout(IOLoop::Timeout());
  EXPECT_FALSE(IOLoop::Timeout());
  EXPECT_TRUE(fired);
}

TEST_P(IOLoopTest, RemoveTimeoutFromTimeout) {
  // test_remove_timeout_from_timeout: all due in one batch; t1 removes t2.
  std::vector<bool> calls{false, false};
  auto now = loop_.time();
  IOLoop::Timeout t2;
  loop_.add_timeout(now + 10ms, [&] {
    calls[0] = true;
    loop_.remove_timeout(t2);
  });
  t2 = loop_.add_timeout(now + 20ms, [&] { calls[1] = true; });
  loop_.add_timeout(now + 30ms, [&] { loop_.stop(); });
  std::this_thread::sleep_for(30ms);
  run();
  EXPECT_EQ(calls, (std::vector<bool>{true, false}));
}

TEST_P(IOLoopTest, RemoveTimeoutCleanupCompactsAndKeepsOrder) {
  // test_remove_timeout_cleanup, plus: the heap shrinks and order holds.
  auto far = loop_.time() + 1h;
  for (int i = 0; i < 2000; ++i) {
    loop_.remove_timeout(loop_.add_timeout(far, [] {}));
  }
  std::vector<int> order;
  for (int i = 0; i < 3; ++i) {
    loop_.call_later(std::chrono::milliseconds(1 + i), [&, i] {
      order.push_back(i);
      if (i == 2) loop_.stop();
    });
  }
  EXPECT_GE(loop_.timeout_heap_size(), 2000u);
  run();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_LT(loop_.timeout_heap_size(), 100u);
  EXPECT_EQ(loop_.pending_timeouts(), 0u);
}

// ---- fd handlers ------------------------------------------------------------------

TEST_P(IOLoopTest, ReadWhileWriteableGetsReadOnly) {
  auto fds2 = socketpair_nonblocking();  // no structured binding: clang 14 cannot capture one
  int client = fds2.first, server = fds2.second;
  uint32_t got = 0;
  loop_.add_handler(
      client,
      [&](int fd, uint32_t events) {
        got = events;
        char buf[8];
        EXPECT_EQ(read(fd, buf, sizeof buf), 3);
        loop_.remove_handler(fd);
        loop_.stop();
      },
      IOLoop::READ);
  loop_.call_later(10ms, [s = server] { EXPECT_EQ(write(s, "abc", 3), 3); });
  run();
  EXPECT_EQ(got, IOLoop::READ);
}

TEST_P(IOLoopTest, WriteEventsAndUpdateHandler) {
  auto fds3 = socketpair_nonblocking();  // no structured binding: clang 14 cannot capture one
  int a = fds3.first, b = fds3.second;
  (void)b;
  std::vector<uint32_t> seen;
  loop_.add_handler(
      a,
      [&](int fd, uint32_t events) {
        seen.push_back(events);
        if (seen.size() == 1) {
          loop_.update_handler(fd, IOLoop::READ);  // stop asking for WRITE
          loop_.call_later(20ms, [&] { loop_.stop(); });
        }
      },
      IOLoop::WRITE);
  run();
  EXPECT_EQ(seen, (std::vector<uint32_t>{IOLoop::WRITE}));
}

TEST_P(IOLoopTest, MultipleAddThrowsNamingTheFd) {
  auto fds4 = socketpair_nonblocking();  // no structured binding: clang 14 cannot capture one
  int a = fds4.first, b = fds4.second;
  (void)b;
  loop_.add_handler(a, [](int, uint32_t) {}, IOLoop::READ);
  try {
    loop_.add_handler(a, [](int, uint32_t) {}, IOLoop::READ);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("fd " + std::to_string(a)),
              std::string::npos);
  }
  loop_.remove_handler(a);
}

TEST_P(IOLoopTest, BadFdsAreRejectedClearly) {
  EXPECT_THROW(loop_.add_handler(-1, [](int, uint32_t) {}, IOLoop::READ),
               std::invalid_argument);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  close(fds[1]);
  try {
    loop_.add_handler(fds[0], [](int, uint32_t) {}, IOLoop::READ);
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("is not open"), std::string::npos);
  }
  EXPECT_THROW(loop_.update_handler(fds[0], IOLoop::READ), std::invalid_argument);
}

TEST_P(IOLoopTest, RemoveWithoutAddIsHarmless) {
  EXPECT_NO_THROW(loop_.remove_handler(12345));
}

TEST_P(IOLoopTest, RemoveHandlerFromHandler) {
  // test_remove_handler_from_handler: both ends readable in one poll; the
  // first handler reads and removes the other fd, which must not run.
  auto fds5 = socketpair_nonblocking();  // no structured binding: clang 14 cannot capture one
  int client = fds5.first, server = fds5.second;
  ASSERT_EQ(write(client, "abc", 3), 3);
  ASSERT_EQ(write(server, "abc", 3), 3);
  std::vector<std::string> chunks;
  auto handle_read = [&](int fd, uint32_t) {
    char buf[8];
    ssize_t n = read(fd, buf, sizeof buf);
    chunks.emplace_back(buf, n > 0 ? n : 0);
    loop_.remove_handler(fd == client ? server : client);
  };
  loop_.add_handler(client, handle_read, IOLoop::READ);
  loop_.add_handler(server, handle_read, IOLoop::READ);
  loop_.call_later(20ms, [&] { loop_.stop(); });
  run();
  EXPECT_EQ(chunks, (std::vector<std::string>{"abc"}));
}

TEST_P(IOLoopTest, HandlerMayRemoveItselfAndCloseItsFd) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  fds_.push_back(sv[1]);
  auto owned = std::make_shared<int>(0);
  ASSERT_EQ(write(sv[1], "x", 1), 1);
  loop_.add_handler(
      sv[0],
      [&, owned](int fd, uint32_t) {
        loop_.remove_handler(fd);  // destroys this handler's owner later
        close(fd);
        ++*owned;
        loop_.stop();
      },
      IOLoop::READ);
  run();
  EXPECT_EQ(*owned, 1);
}

TEST_P(IOLoopTest, ReadyFdServedWithinBoundUnderCallbackStorm) {
  auto fds6 = socketpair_nonblocking();  // no structured binding: clang 14 cannot capture one
  int a = fds6.first, b = fds6.second;
  ASSERT_EQ(write(b, "x", 1), 1);
  int callbacks_before_fd = 0;
  bool served = false;
  std::function<void()> storm = [&] {
    if (served) return;
    ++callbacks_before_fd;
    loop_.add_callback(storm);
  };
  loop_.add_handler(
      a,
      [&](int fd, uint32_t) {
        served = true;
        loop_.remove_handler(fd);
        loop_.stop();
      },
      IOLoop::READ);
  loop_.add_callback(storm);
  run();
  EXPECT_TRUE(served);
  // One callback per iteration; a poll at least every 128 iterations
  // (Options::max_iterations_between_polls).
  EXPECT_LE(callbacks_before_fd, 128);
}

// ---- run_sync ---------------------------------------------------------------------

TEST_P(IOLoopTest, RunSyncValue) {
  EXPECT_EQ(loop_.run_sync([] { return 42; }), 42);
}

TEST_P(IOLoopTest, RunSyncFutureResolvedLater) {
  int r = loop_.run_sync([this] {
    Future<int> f;
    loop_.call_later(1ms, [f]() mutable { f.set_result(42); });
    return f;
  });
  EXPECT_EQ(r, 42);
}

TEST_P(IOLoopTest, RunSyncException) {
  EXPECT_THROW(loop_.run_sync([]() -> int { throw std::domain_error("x"); }),
               std::domain_error);
  EXPECT_THROW(loop_.run_sync([this] {
    Future<void> f;
    loop_.add_callback([f]() mutable {
      f.set_exception(std::make_exception_ptr(std::range_error("later")));
    });
    return f;
  }),
               std::range_error);
}

TEST_P(IOLoopTest, RunSyncCurrentIsTheLoop) {
  IOLoop* seen = nullptr;
  loop_.run_sync([&] { seen = &IOLoop::current(); });
  EXPECT_EQ(seen, &loop_);
}

TEST_P(IOLoopTest, RunSyncTimeoutThenLaterRunSyncIsNotStoppedByLeftovers) {
  Future<void> slow;
  EXPECT_THROW(loop_.run_sync([&] { return slow; }, 10ms), TimeoutError);
  // Complete the first operation while a second run_sync runs: its
  // leftover stop must not end the second one early.
  int r = loop_.run_sync([&] {
    slow.set_result();
    Future<int> f;
    loop_.call_later(20ms, [f]() mutable { f.set_result(5); });
    return f;
  });
  EXPECT_EQ(r, 5);
}

TEST_P(IOLoopTest, RunSyncMoveOnly) {
  auto p = loop_.run_sync([] { return std::make_unique<int>(3); });
  EXPECT_EQ(*p, 3);
}

// ---- current / instance -------------------------------------------------------------

TEST_P(IOLoopTest, NotCurrentLoopAndStartRestoresCurrent) {
  IOLoop::clear_current();
  IOLoop::Options o = options();
  o.make_current = false;
  IOLoop other(o);
  EXPECT_EQ(IOLoop::current_or_null(), nullptr);
  for (int i = 0; i < 3; ++i) {
    IOLoop* inside = nullptr;
    other.add_callback([&] {
      inside = &IOLoop::current();
      other.stop();
    });
    other.start();
    EXPECT_EQ(inside, &other);
    EXPECT_EQ(IOLoop::current_or_null(), nullptr);
  }
  other.make_current();
  EXPECT_EQ(&IOLoop::current(), &other);
  other.close();
  EXPECT_EQ(IOLoop::current_or_null(), nullptr);  // close clears it
  EXPECT_EQ(&IOLoop::current(), &IOLoop::instance());
}

// ---- close ------------------------------------------------------------------------

TEST_P(IOLoopTest, CloseReleasesEverythingAndThenRejectsScheduling) {
  auto owned = std::make_shared<int>(0);
  auto fds7 = socketpair_nonblocking();  // no structured binding: clang 14 cannot capture one
  int a = fds7.first, b = fds7.second;
  (void)b;
  loop_.add_callback([owned] {});
  loop_.call_later(1h, [owned] {});
  loop_.add_handler(a, [owned](int, uint32_t) {}, IOLoop::READ);
  Future<int> never;
  loop_.add_future(never, [owned](Future<int>) {});
  EXPECT_EQ(owned.use_count(), 5);
  loop_.close();
  EXPECT_EQ(owned.use_count(), 2);  // the future's callback still holds one
  EXPECT_THROW(loop_.add_callback([] {}), std::logic_error);
  EXPECT_THROW(loop_.call_later(1ms, [] {}), std::logic_error);
  EXPECT_THROW(loop_.add_handler(a, [](int, uint32_t) {}, IOLoop::READ),
               std::logic_error);
  EXPECT_THROW(loop_.start(), std::logic_error);
  EXPECT_NO_THROW(loop_.remove_handler(a));
  EXPECT_NO_THROW(loop_.close());  // idempotent
  try {
    loop_.add_callback([] {});
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(), "IOLoop::add_callback: the loop is closed");
  }
}

TEST_P(IOLoopTest, CloseAllFdsClosesHandlersFds) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  fds_.push_back(sv[1]);
  loop_.add_handler(sv[0], [](int, uint32_t) {}, IOLoop::READ);
  loop_.close(true);
  EXPECT_EQ(fcntl(sv[0], F_GETFD), -1);
}

// ---- executor -----------------------------------------------------------------------

TEST_P(IOLoopTest, RunInExecutorCompletesOnTheLoopThread) {
  auto loop_thread = std::this_thread::get_id();
  std::thread::id worker;
  int r = loop_.run_sync([&] {
    return loop_.run_in_executor([&] {
      worker = std::this_thread::get_id();
      return 6 * 7;
    });
  });
  EXPECT_EQ(r, 42);
  EXPECT_NE(worker, loop_thread);
  EXPECT_THROW(loop_.run_sync([&] {
    return loop_.run_in_executor([]() -> int { throw std::runtime_error("w"); });
  }),
               std::runtime_error);
}

// ---- PeriodicCallback -------------------------------------------------------------

TEST(PeriodicCallbackTest, NextDeadlineSkipsMissedTicksOnTheGrid) {
  // Tornado's test_overrun: period 10 s from 1000; the callback "sleeps"
  // these durations; expected call times below.
  using S = std::chrono::seconds;
  const PeriodicCallback::time_point t0{S(1000)};
  const int sleeps[] = {9, 9, 10, 11, 20, 20, 35, 35, 0, 0};
  const int expected[] = {1010, 1020, 1030, 1050, 1070,
                          1100, 1130, 1170, 1210, 1220};
  auto next = PeriodicCallback::next_deadline(t0, t0, S(10));
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(std::chrono::duration_cast<S>(next.time_since_epoch()).count(),
              expected[i]);
    auto now = next + S(sleeps[i]);
    next = PeriodicCallback::next_deadline(next, now, S(10));
  }
  EXPECT_EQ(std::chrono::duration_cast<S>(next.time_since_epoch()).count(), 1230);
}

TEST_P(IOLoopTest, PeriodicCallbackRunsAndStops) {
  int calls = 0;
  PeriodicCallback pc(
      [&] {
        if (++calls == 3) loop_.stop();
      },
      2ms, &loop_);
  EXPECT_FALSE(pc.is_running());
  pc.start();
  EXPECT_TRUE(pc.is_running());
  run();
  pc.stop();
  EXPECT_EQ(calls, 3);
  loop_.call_later(10ms, [&] { loop_.stop(); });
  run();
  EXPECT_EQ(calls, 3);
}

TEST_P(IOLoopTest, PeriodicCallbackExceptionGoesToTheLoop) {
  int calls = 0;
  PeriodicCallback pc(
      [&] {
        if (++calls == 2) loop_.stop();
        throw std::runtime_error("tick");
      },
      1ms, &loop_);
  pc.start();
  run();
  EXPECT_EQ(log_.size(), 2u);
}

TEST(PeriodicCallbackTest, RejectsNonPositivePeriod) {
  IOLoop loop;
  EXPECT_THROW(PeriodicCallback([] {}, 0ms, &loop), std::invalid_argument);
}

}  // namespace
}  // namespace tornado
