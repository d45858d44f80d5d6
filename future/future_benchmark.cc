// Future costs: create + set + read; create + one callback + set.
// "allocs" is heap allocations per iteration.

#include <benchmark/benchmark.h>

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

void BM_Future_Copy(benchmark::State& state) {
  Future<int> f;
  for (auto _ : state) {
    Future<int> g = f;
    benchmark::DoNotOptimize(g);
  }
}
BENCHMARK(BM_Future_Copy);

}  // namespace
}  // namespace tornado
