// Stress: the loop loses nothing under load.
//
// Sizes are the full sizes times TORNADO_STRESS_SCALE (default
// 0.05, small enough for CI under sanitizers):
//   ./bazelw test //tests:stress_test --test_env=TORNADO_STRESS_SCALE=1
// runs 4 x 100,000 cross-thread callbacks, 1,000,000 timeouts, 10,000
// socketpairs and 1,000,000 coroutines.

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tornado/gen/gen.h"
#include "gtest/gtest.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/logging/logging.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

int64_t scaled(int64_t full) {
  double scale = 0.05;
  if (const char* s = std::getenv("TORNADO_STRESS_SCALE"); s && *s) {
    scale = std::atof(s);
  }
  return std::max<int64_t>(1, static_cast<int64_t>(full * scale));
}

// Aborts the process if a test hangs (a lost wake-up leaves the loop in a
// one-hour poll): far shorter than the poll timeout, far longer than the
// test.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit)
      : thread_([this, limit] {
          auto deadline = std::chrono::steady_clock::now() + limit;
          while (!done_.load()) {
            if (std::chrono::steady_clock::now() > deadline) {
              std::fprintf(stderr, "watchdog: test hung (lost wake-up?)\n");
              std::abort();
            }
            std::this_thread::sleep_for(10ms);
          }
        }) {}
  ~Watchdog() {
    done_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

class CrossThreadTest : public ::testing::TestWithParam<int> {};

// With and without the idle spin: both wake-up paths (the loop caught
// spinning, the loop asleep in poll) must lose nothing.
INSTANTIATE_TEST_SUITE_P(IdleSpin, CrossThreadTest, ::testing::Values(0, 50));

TEST_P(CrossThreadTest, CallbacksAllRunOnceInPerThreadOrder) {
  const int kThreads = 4;
  const int64_t n = scaled(100000);
  IOLoop::Options options;
  options.idle_spin = std::chrono::microseconds(GetParam());
  IOLoop loop(options);
  Watchdog watchdog(120s);
  std::vector<std::vector<int64_t>> seen(kThreads);
  std::atomic<int> finished_threads{0};
  int64_t total = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t i = 0; i < n; ++i) {
        loop.add_callback([&, t, i] {
          seen[t].push_back(i);
          if (++total == kThreads * n) loop.stop();
        });
        // Sometimes let the loop drain and block in poll again, so that
        // wake-ups from an idle loop are exercised too.
        if (i % 5000 == 4999) std::this_thread::sleep_for(1ms);
      }
      finished_threads.fetch_add(1);
    });
  }
  loop.start();
  for (auto& th : threads) th.join();
  EXPECT_EQ(total, kThreads * n);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(static_cast<int64_t>(seen[t].size()), n) << "thread " << t;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(seen[t][i], i) << "thread " << t << " out of order";
    }
  }
  loop.close();
}

TEST(StressTest, TimeoutsFireOnceInOrderAndNeverAfterRemoval) {
  const int64_t n = scaled(1000000);
  IOLoop loop;
  Watchdog watchdog(300s);
  std::mt19937_64 rng(12345);
  const auto base = loop.time();
  const auto span = 200ms;
  auto random_time = [&] {
    return base + std::chrono::microseconds(rng() % 200000);
  };
  struct Timer {
    IOLoop::time_point deadline;
    IOLoop::Timeout handle;
    int fired = 0;
    bool removed = false;
  };
  std::vector<Timer> timers(n);
  std::vector<int64_t> fire_order;
  fire_order.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    timers[i].deadline = random_time();
    timers[i].handle = loop.call_at(timers[i].deadline, [&, i] {
      ASSERT_FALSE(timers[i].removed) << "timer " << i << " fired after removal";
      ++timers[i].fired;
      fire_order.push_back(i);
    });
  }
  // Half of them removed: a quarter at once, a quarter from inside other
  // timeouts at random times.
  std::vector<int64_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = i;
  std::shuffle(ids.begin(), ids.end(), rng);
  for (int64_t k = 0; k < n / 2; ++k) {
    int64_t victim = ids[k];
    auto remove = [&, victim] {
      if (timers[victim].fired == 0) {
        loop.remove_timeout(timers[victim].handle);
        timers[victim].removed = true;
      }
    };
    if (k % 2 == 0) {
      remove();
    } else {
      loop.call_at(random_time(), remove);
    }
  }
  loop.call_at(base + span + 50ms, [&] { loop.stop(); });
  loop.start();
  int64_t live = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (timers[i].removed) {
      EXPECT_EQ(timers[i].fired, 0);
    } else {
      ASSERT_EQ(timers[i].fired, 1) << "timer " << i;
      ++live;
    }
  }
  EXPECT_EQ(static_cast<int64_t>(fire_order.size()), live);
  EXPECT_GE(live, n / 2);
  // Deadline order (equal deadlines: the order added, i.e. by index).
  for (size_t k = 1; k < fire_order.size(); ++k) {
    const auto a = fire_order[k - 1], b = fire_order[k];
    ASSERT_TRUE(timers[a].deadline < timers[b].deadline ||
                (timers[a].deadline == timers[b].deadline && a < b))
        << "timers " << a << " and " << b << " out of order";
  }
  EXPECT_EQ(loop.pending_timeouts(), 0u);
  loop.close();
}

TEST(StressTest, SocketpairChurn) {
  const int64_t total = scaled(10000);
  const int kLive = 64;  // at most this many pairs open at once
  IOLoop loop;
  Watchdog watchdog(120s);
  int64_t started = 0, finished = 0;
  std::function<void()> start_one = [&] {
    if (started == total) return;
    ++started;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    const char byte = static_cast<char>(started);
    loop.add_handler(
        sv[0],
        [&, byte, peer = sv[1]](int fd, uint32_t events) {
          ASSERT_TRUE(events & IOLoop::READ);
          char c = 0;
          ASSERT_EQ(read(fd, &c, 1), 1);
          ASSERT_EQ(c, byte);
          loop.remove_handler(fd);
          close(fd);
          close(peer);
          if (++finished == total) {
            loop.stop();
          } else {
            start_one();
          }
        },
        IOLoop::READ);
    ASSERT_EQ(write(sv[1], &byte, 1), 1);
  };
  for (int i = 0; i < kLive; ++i) start_one();
  loop.start();
  EXPECT_EQ(finished, total);
  loop.close();
}

Future<int64_t> nested_leaf(int64_t i) {
  co_await gen::moment;
  co_return i;
}

Future<int64_t> stress_coroutine(int64_t i) {
  switch (i % 3) {
    case 0:
      if (i % 2 == 0) co_await gen::moment;
      throw std::runtime_error(std::to_string(i));
    case 1:
      co_await gen::moment;
      co_return i;
    default:
      co_return 1 + co_await nested_leaf(i);
  }
}

TEST(StressTest, ManyCoroutinesCompleteWithTheRightOutcome) {
  const int64_t n = scaled(1000000);
  IOLoop loop;
  loop.make_current();
  Watchdog watchdog(300s);
  std::vector<Future<int64_t>> futures;
  futures.reserve(n);
  loop.run_sync([&] {
    for (int64_t i = 0; i < n; ++i) futures.push_back(stress_coroutine(i));
    return gen::sleep(1ms);
  });
  // Let every coroutine finish: each needs at most two loop trips.
  loop.run_sync([] { return gen::sleep(5ms); });
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(futures[i].done()) << i;
    if (i % 3 == 0) {
      try {
        futures[i].result();
        FAIL() << "coroutine " << i << " should have thrown";
      } catch (const std::runtime_error& e) {
        ASSERT_EQ(e.what(), std::to_string(i));
      }
    } else {
      ASSERT_EQ(futures[i].result(), i % 3 == 1 ? i : i + 1) << i;
    }
  }
  loop.close();
}

}  // namespace
}  // namespace tornado
