// Cancellation costs (the cancellation issue's figures):
//   - BM_Cancel_Chain3: start a 3-deep coroutine chain whose leaf sleeps,
//     cancel the top, and run the loop until the chain has unwound
//     (CancelledError caught nowhere). ns per cancel + unwind.
//   - BM_Cancel_Sleep: cancelling a pending gen::sleep (timer removed).
//   - BM_TaskGroup_1000: spawn 1,000 coroutine children (each awaits a
//     moment) into a TaskGroup and join; ns per child ("per_child").
// "allocs" is heap allocations per iteration.

#include <benchmark/benchmark.h>

#include <chrono>

#include "tornado/gen/gen.h"
#include "tornado/testing/alloc_counter.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

void report_allocs(benchmark::State& state, const testing::AllocCounter& a) {
  state.counters["allocs"] = benchmark::Counter(
      static_cast<double>(a.count()), benchmark::Counter::kAvgIterations);
}

Future<int> leaf() {
  co_await gen::sleep(1h);
  co_return 1;
}
Future<int> mid() { co_return co_await leaf(); }
Future<int> top() { co_return co_await mid(); }

Future<void> cancel_chains(benchmark::State& state, int64_t* cancelled) {
  testing::AllocCounter allocs;
  for (auto _ : state) {
    Future<int> t = top();
    t.cancel();
    while (!t.done()) co_await gen::moment;
    *cancelled += t.cancelled();
  }
  report_allocs(state, allocs);
}

void BM_Cancel_Chain3(benchmark::State& state) {
  IOLoop loop;
  int64_t cancelled = 0;
  loop.run_sync([&] { return cancel_chains(state, &cancelled); });
  if (cancelled != static_cast<int64_t>(state.iterations())) {
    state.SkipWithError("a chain did not end cancelled");
  }
}
BENCHMARK(BM_Cancel_Chain3);

void BM_Cancel_Sleep(benchmark::State& state) {
  IOLoop loop;
  loop.make_current();
  testing::AllocCounter allocs;
  for (auto _ : state) {
    Future<void> s = gen::sleep(1h);
    benchmark::DoNotOptimize(s.cancel());
  }
  report_allocs(state, allocs);
  if (loop.pending_timeouts() != 0) state.SkipWithError("a timer was left");
}
BENCHMARK(BM_Cancel_Sleep);

Future<void> child() { co_await gen::moment; }

Future<void> spawn_and_join(benchmark::State& state, int n) {
  testing::AllocCounter allocs;
  for (auto _ : state) {
    gen::TaskGroup group;
    for (int i = 0; i < n; ++i) static_cast<void>(group.spawn(child()));
    co_await group.join();
  }
  report_allocs(state, allocs);
  state.counters["per_child"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * n,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_TaskGroup_1000(benchmark::State& state) {
  IOLoop loop;
  loop.run_sync([&] { return spawn_and_join(state, 1000); });
}
BENCHMARK(BM_TaskGroup_1000);

}  // namespace
}  // namespace tornado
