// Coroutine costs: the document's pattern (W2: create a future,
// add_callback a setter, co_await it), awaiting a done future, and a nested
// coroutine call with a moment (W3). "allocs" is heap allocations per
// iteration.

#include <benchmark/benchmark.h>

#include "tornado/gen/gen.h"
#include "tornado/testing/alloc_counter.h"

namespace tornado {
namespace {

void report_allocs(benchmark::State& state, const testing::AllocCounter& a) {
  state.counters["allocs"] = benchmark::Counter(
      static_cast<double>(a.count()), benchmark::Counter::kAvgIterations);
}

Future<void> seed_pattern(benchmark::State& state, int64_t* total) {
  IOLoop& loop = IOLoop::current();
  testing::AllocCounter allocs;
  int64_t i = 0;
  for (auto _ : state) {
    Future<int64_t> future;
    loop.add_callback([future, i]() mutable { future.set_result(i + 1); });
    *total += co_await future;
    ++i;
  }
  report_allocs(state, allocs);
}

void BM_Gen_SeedPattern(benchmark::State& state) {
  IOLoop loop;
  int64_t total = 0;
  loop.run_sync([&] { return seed_pattern(state, &total); });
  benchmark::DoNotOptimize(total);
}
BENCHMARK(BM_Gen_SeedPattern);

Future<void> await_done(benchmark::State& state, int64_t* total) {
  testing::AllocCounter allocs;
  Future<int64_t> done = make_ready_future<int64_t>(1);
  for (auto _ : state) *total += co_await done;
  report_allocs(state, allocs);
}

void BM_Gen_AwaitDoneFuture(benchmark::State& state) {
  IOLoop loop;
  int64_t total = 0;
  loop.run_sync([&] { return await_done(state, &total); });
  benchmark::DoNotOptimize(total);
}
BENCHMARK(BM_Gen_AwaitDoneFuture);

Future<int64_t> inner(int64_t i) {
  co_await gen::moment;
  co_return i;
}

Future<void> outer(benchmark::State& state, int64_t* total) {
  testing::AllocCounter allocs;
  int64_t i = 0;
  for (auto _ : state) *total += co_await inner(i++);
  report_allocs(state, allocs);
}

void BM_Gen_NestedWithMoment(benchmark::State& state) {
  IOLoop loop;
  int64_t total = 0;
  loop.run_sync([&] { return outer(state, &total); });
  benchmark::DoNotOptimize(total);
}
BENCHMARK(BM_Gen_NestedWithMoment);

}  // namespace
}  // namespace tornado
