// //queues costs: put_nowait + get_nowait on an uncontended queue, and a
// producer and a consumer coroutine passing items through a Queue of
// maxsize 1 (every item: a put that waits for room or hands over to the
// waiting getter, and a resumption from the loop) and of maxsize 100.
// "allocs" is heap allocations per item. Python's figures (asyncio.Queue,
// tornado.queues) come from queues/queues_benchmark.py; see
// docs/PERFORMANCE.md.

#include <benchmark/benchmark.h>

#include <cstdint>

#include "tornado/gen/gen.h"
#include "tornado/queues/queues.h"
#include "tornado/testing/alloc_counter.h"

namespace tornado::queues {
namespace {

void report_allocs(benchmark::State& state, const testing::AllocCounter& a) {
  state.counters["allocs"] = benchmark::Counter(static_cast<double>(a.count()),
                                                benchmark::Counter::kAvgIterations);
}

void BM_Queue_PutGetNowait(benchmark::State& state) {
  IOLoop loop;
  Queue<int64_t> q;
  int64_t i = 0, total = 0;
  testing::AllocCounter allocs;
  for (auto _ : state) {
    q.put_nowait(i++);
    total += q.get_nowait();
  }
  report_allocs(state, allocs);
  benchmark::DoNotOptimize(total);
}
BENCHMARK(BM_Queue_PutGetNowait);

Future<void> consumer(Queue<int64_t>& q, int64_t* total) {
  for (;;) {
    int64_t item = co_await q.get();
    if (item < 0) co_return;
    *total += item;
    q.task_done();
  }
}

Future<void> producer(benchmark::State& state, Queue<int64_t>& q, int64_t* total) {
  Future<void> c = consumer(q, total);
  testing::AllocCounter allocs;
  int64_t i = 0;
  for (auto _ : state) co_await q.put(i++);
  co_await q.join();
  report_allocs(state, allocs);
  co_await q.put(-1);
  co_await c;
}

// One iteration: one item from the producer coroutine to the consumer.
void BM_Queue_ProducerConsumer(benchmark::State& state) {
  IOLoop loop;
  Queue<int64_t> q(static_cast<int>(state.range(0)));
  int64_t total = 0;
  loop.run_sync([&] { return producer(state, q, &total); });
  benchmark::DoNotOptimize(total);
}
BENCHMARK(BM_Queue_ProducerConsumer)->Arg(1)->Arg(100);

}  // namespace
}  // namespace tornado::queues
