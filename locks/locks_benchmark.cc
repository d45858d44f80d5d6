// //locks costs: an uncontended acquire/release (a done future each time),
// the scoped guard in a coroutine, a lock handed back and forth between two
// coroutines (each round trip is two hand-overs, each a release that
// completes the other's future plus a resumption from the loop), and a
// wait withdrawn by cancel(). "allocs" is heap allocations per iteration.
// Python's figures for the same (asyncio, tornado.locks) come from
// locks/locks_benchmark.py; see docs/PERFORMANCE.md.

#include <benchmark/benchmark.h>

#include <vector>

#include "tornado/gen/gen.h"
#include "tornado/locks/locks.h"
#include "tornado/testing/alloc_counter.h"

namespace tornado::locks {
namespace {

void report_allocs(benchmark::State& state, const testing::AllocCounter& a) {
  state.counters["allocs"] = benchmark::Counter(static_cast<double>(a.count()),
                                                benchmark::Counter::kAvgIterations);
}

// acquire() returns a done future; release() finds no waiter.
void BM_Lock_AcquireRelease_Uncontended(benchmark::State& state) {
  IOLoop loop;
  Lock lock;
  testing::AllocCounter allocs;
  for (auto _ : state) {
    Future<void> f = lock.acquire();
    benchmark::DoNotOptimize(f);
    lock.release();
  }
  report_allocs(state, allocs);
}
BENCHMARK(BM_Lock_AcquireRelease_Uncontended);

Future<void> scoped_loop(benchmark::State& state, Lock& lock) {
  testing::AllocCounter allocs;
  for (auto _ : state) {
    auto guard = co_await lock.scoped();
    benchmark::DoNotOptimize(guard);
  }
  report_allocs(state, allocs);
}

// `auto guard = co_await lock.scoped();` in a coroutine, uncontended.
void BM_Lock_Scoped_Uncontended(benchmark::State& state) {
  IOLoop loop;
  Lock lock;
  loop.run_sync([&] { return scoped_loop(state, lock); });
}
BENCHMARK(BM_Lock_Scoped_Uncontended);

void BM_Semaphore_AcquireRelease_Uncontended(benchmark::State& state) {
  IOLoop loop;
  Semaphore sem(4);
  testing::AllocCounter allocs;
  for (auto _ : state) {
    Future<void> f = sem.acquire();
    benchmark::DoNotOptimize(f);
    sem.release();
  }
  report_allocs(state, allocs);
}
BENCHMARK(BM_Semaphore_AcquireRelease_Uncontended);

Future<void> partner(Lock& lock, const bool& stop) {
  while (!stop) {
    co_await lock.acquire();
    lock.release();
  }
}

Future<void> handoff_loop(benchmark::State& state, Lock& lock) {
  bool stop = false;
  co_await lock.acquire();
  Future<void> other = partner(lock, stop);  // waits for us
  lock.release();                            // to the partner
  testing::AllocCounter allocs;
  for (auto _ : state) {
    co_await lock.acquire();  // waits for the partner's release
    lock.release();           // to the partner, waiting again
  }
  report_allocs(state, allocs);
  stop = true;
  co_await other;
}

// One iteration: the lock goes to the partner and comes back (two
// hand-overs between two coroutines).
void BM_Lock_Contended_RoundTrip(benchmark::State& state) {
  IOLoop loop;
  Lock lock;
  loop.run_sync([&] { return handoff_loop(state, lock); });
}
BENCHMARK(BM_Lock_Contended_RoundTrip);

// A pending acquire() withdrawn by cancel(): O(1), its node reused.
void BM_Lock_WaitCancel(benchmark::State& state) {
  IOLoop loop;
  Lock lock;
  Future<void> held = lock.acquire();
  std::vector<Future<void>> others;
  for (int i = 0; i < 1000; ++i) others.push_back(lock.acquire());  // a long list
  testing::AllocCounter allocs;
  for (auto _ : state) {
    Future<void> f = lock.acquire();
    f.cancel();
  }
  report_allocs(state, allocs);
  for (auto& f : others) f.cancel();
}
BENCHMARK(BM_Lock_WaitCancel);

}  // namespace
}  // namespace tornado::locks
