// Future costs: create + set + read; create + one callback + set; copying
// and releasing a handle of a future made with no loop (shared), and of one
// biased to a loop thread, there and on another thread.
// "allocs" is heap allocations per iteration.

#include <benchmark/benchmark.h>

#include <thread>

#include "tornado/future/future.h"
#include "tornado/testing/alloc_counter.h"

namespace tornado {
namespace {

void report(benchmark::State& state, const testing::AllocCounter& allocs) {
  state.counters["allocs"] = benchmark::Counter(
      static_cast<double>(allocs.count()), benchmark::Counter::kAvgIterations);
}

void BM_Future_CreateSetRead(benchmark::State& state) {
  int64_t sum = 0;
  testing::AllocCounter allocs;
  for (auto _ : state) {
    Future<int64_t> f;
    benchmark::DoNotOptimize(f);
    f.set_result(1);
    sum += f.result();
  }
  benchmark::DoNotOptimize(sum);
  report(state, allocs);
}
BENCHMARK(BM_Future_CreateSetRead);

void BM_Future_CreateCallbackSet(benchmark::State& state) {
  int64_t sum = 0;
  testing::AllocCounter allocs;
  for (auto _ : state) {
    Future<int64_t> f;
    f.add_done_callback([&sum](Future<int64_t> g) { sum += g.result(); });
    f.set_result(1);
  }
  benchmark::DoNotOptimize(sum);
  report(state, allocs);
}
BENCHMARK(BM_Future_CreateCallbackSet);

// A copy made and released of a future made with no loop running: shared,
// counted atomically on every thread.
void BM_Future_Copy(benchmark::State& state) {
  Future<int> f;
  for (auto _ : state) {
    Future<int> g = f;
    benchmark::DoNotOptimize(g);
  }
}
BENCHMARK(BM_Future_Copy);

// A copy made and released on the owner thread: plain integer operations.
void BM_Future_CopyRelease_Owner(benchmark::State& state) {
  future_internal::LoopThreadScope loop_thread;  // as IOLoop::start does
  Future<int> f;
  for (auto _ : state) {
    Future<int> g = f;
    benchmark::DoNotOptimize(g);
  }
}
BENCHMARK(BM_Future_CopyRelease_Owner);

// The same on a thread that is not the owner: an atomic increment, and a
// compare-and-swap to release.
void BM_Future_CopyRelease_NonOwner(benchmark::State& state) {
  Future<int> f;
  std::thread([&f] {
    future_internal::LoopThreadScope loop_thread;
    f = Future<int>();  // biased to that thread, which then exits
  }).join();
  for (auto _ : state) {
    Future<int> g = f;
    benchmark::DoNotOptimize(g);
  }
}
BENCHMARK(BM_Future_CopyRelease_NonOwner);

}  // namespace
}  // namespace tornado
