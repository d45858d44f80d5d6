// wrap + call with 0, 1 and 3 active contexts; allocations per operation
// are reported as the "allocs" counter.

#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "tornado/stack_context/stack_context.h"
#include "tornado/testing/alloc_counter.h"

namespace tornado {
namespace {

void BM_StackContext_WrapAndCall(benchmark::State& state) {
  const int depth = static_cast<int>(state.range(0));
  std::vector<std::unique_ptr<StackContext>> scopes;
  for (int i = 0; i < depth; ++i) {
    scopes.push_back(std::make_unique<StackContext>([] { return 0; }));
  }
  int calls = 0;
  testing::AllocCounter allocs;
  for (auto _ : state) {
    auto f = stack_context::wrap([&calls] { ++calls; });
    f();
  }
  benchmark::DoNotOptimize(calls);
  state.counters["allocs"] = benchmark::Counter(
      static_cast<double>(allocs.count()), benchmark::Counter::kAvgIterations);
  while (!scopes.empty()) scopes.pop_back();  // innermost first
}
BENCHMARK(BM_StackContext_WrapAndCall)->ArgName("contexts")->Arg(0)->Arg(1)->Arg(3);

void BM_StackContext_ExceptionContextWrapAndCall(benchmark::State& state) {
  ExceptionStackContext esc([](std::exception_ptr) { return true; });
  int calls = 0;
  testing::AllocCounter allocs;
  for (auto _ : state) {
    auto f = stack_context::wrap([&calls] { ++calls; });
    f();
  }
  benchmark::DoNotOptimize(calls);
  state.counters["allocs"] = benchmark::Counter(
      static_cast<double>(allocs.count()), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_StackContext_ExceptionContextWrapAndCall);

}  // namespace
}  // namespace tornado
