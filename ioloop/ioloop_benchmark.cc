// IOLoop costs: same-thread callback chain, callbacks from another thread,
// timers scheduled and fired, timers scheduled and cancelled, and the
// waker round trip for each waker kind. "allocs" is heap allocations per
// iteration on the loop's thread.

#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tornado/ioloop/ioloop.h"
#include "tornado/testing/alloc_counter.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

void report_allocs(benchmark::State& state, const testing::AllocCounter& a) {
  state.counters["allocs"] = benchmark::Counter(
      static_cast<double>(a.count()), benchmark::Counter::kAvgIterations);
}

// W1's shape: each callback schedules the next from the loop thread.
void BM_IOLoop_CallbackChain(benchmark::State& state) {
  IOLoop::Options options;
  options.max_iterations_between_polls = static_cast<int>(state.range(0));
  IOLoop loop(options);
  int64_t n = 0;
  const int64_t total = state.max_iterations;
  struct Chain {
    IOLoop* loop;
    int64_t* n;
    int64_t total;
    void operator()() const {
      if (++*n < total) {
        loop->add_callback(*this);
      } else {
        loop->stop();
      }
    }
  };
  testing::AllocCounter allocs;
  for (auto _ : state) {
    // One timed iteration per callback: run the whole chain once.
    if (n == 0) {
      loop.add_callback(Chain{&loop, &n, total});
      loop.start();
    }
  }
  report_allocs(state, allocs);
}
BENCHMARK(BM_IOLoop_CallbackChain)->ArgName("max_iterations_between_polls")->Arg(1)->Arg(64);

void BM_IOLoop_CallbacksFromAnotherThread(benchmark::State& state) {
  IOLoop loop;
  std::atomic<int64_t> ran{0};
  std::thread runner([&] {
    loop.add_callback([] {});
    loop.start();
  });
  for (auto _ : state) {
    loop.add_callback([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  }
  loop.add_callback([&] { loop.stop(); });
  runner.join();
  benchmark::DoNotOptimize(ran.load());
}
BENCHMARK(BM_IOLoop_CallbacksFromAnotherThread);

void BM_IOLoop_TimersScheduledAndFired(benchmark::State& state) {
  IOLoop loop;
  int64_t fired = 0;
  testing::AllocCounter allocs;
  for (auto _ : state) {
    loop.call_at(loop.time(), [&fired] { ++fired; });
    if (loop.pending_timeouts() >= 1024) {
      loop.add_timeout(loop.time(), [&] { loop.stop(); });
      loop.start();
    }
  }
  loop.add_timeout(loop.time(), [&] { loop.stop(); });
  loop.start();
  report_allocs(state, allocs);
  benchmark::DoNotOptimize(fired);
}
BENCHMARK(BM_IOLoop_TimersScheduledAndFired);

void BM_IOLoop_TimersScheduledAndCancelled(benchmark::State& state) {
  IOLoop loop;
  testing::AllocCounter allocs;
  auto far = loop.time() + 1h;
  for (auto _ : state) {
    loop.remove_timeout(loop.call_at(far, [] {}));
  }
  report_allocs(state, allocs);
}
BENCHMARK(BM_IOLoop_TimersScheduledAndCancelled);

// Another thread posts; the loop, blocked in poll, wakes and answers.
void BM_IOLoop_WakerRoundTrip(benchmark::State& state) {
  IOLoop::Options options;
  options.waker = state.range(0) == 0 ? IOLoop::WakerKind::kEventfd
                                      : IOLoop::WakerKind::kPipe;
  IOLoop loop(options);
  std::thread runner([&] {
    loop.add_callback([] {});
    loop.start();
  });
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  for (auto _ : state) {
    loop.add_callback([&] {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
      cv.notify_one();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    done = false;
  }
  loop.add_callback([&] { loop.stop(); });
  runner.join();
  state.SetLabel(state.range(0) == 0 ? "eventfd" : "pipe");
}
BENCHMARK(BM_IOLoop_WakerRoundTrip)->ArgName("pipe")->Arg(0)->Arg(1)->UseRealTime();

}  // namespace
}  // namespace tornado
