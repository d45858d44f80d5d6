// Future handles copied, moved and destroyed on several threads (issue 16,
// item 15): the reference count is biased to the thread that runs an
// IOLoop (see internal/refcount.h). These tests make a thread an owner the
// way IOLoop::start does, with future_internal::LoopThreadScope, and drain
// its queue the way each loop iteration does; //ioloop's
// future_threads_test does the same with real loops.
//
// The CopiesOnFourThreads tests and OwnerThreadsExitWhileOthersHold-
// TheirFutures race threads against each other; the others drive one path
// each (queueing, merging, orphaning) deterministically.
//
// Every state holds one `Counted`: `live` is back to zero only if every
// state was destroyed, and goes negative if one is destroyed twice. Run
// under --config=tsan and --config=asan (LeakSanitizer) as well.

#include <array>
#include <atomic>
#include <barrier>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "tornado/future/future.h"
#include "tornado/testing/counted.h"
#include "gtest/gtest.h"

namespace tornado {
namespace {

using future_internal::LoopThreadScope;

using testing::Counted;

int live() { return Counted::live.load(); }

Future<Counted> ready(int v) {
  Future<Counted> f;
  f.set_result(Counted(v));
  return f;
}

class FutureThreadsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(live(), 0); }
  void TearDown() override {
    future_internal::drain_released();
    EXPECT_EQ(live(), 0);
  }
};

// Copies and releases of one future's handles on four threads at once,
// while the owner copies and releases too. Who releases last, and whether
// non-owners take the shared count below zero (queueing the state), varies
// from round to round. After each round the owner drains: the state must
// be gone, destroyed once.
void copies_on_four_threads(bool owner_thread) {
  constexpr int kWorkers = 4;
  constexpr int kRounds = 1000;
  std::optional<LoopThreadScope> scope;
  if (owner_thread) scope.emplace();
  std::array<Future<Counted>, kWorkers> to_worker;    // owner's copies
  std::array<Future<Counted>, kWorkers> from_worker;  // workers' copies
  std::barrier start(kWorkers + 1), end(kWorkers + 1);
  std::atomic<int> bad_reads{0};
  int first_leak = -1;
  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.emplace_back([&, i] {
      for (int r = 0; r < kRounds; ++r) {
        start.arrive_and_wait();
        {  // every handle released before the round ends
          Future<Counted> mine = std::move(to_worker[i]);  // owner's unit
          std::vector<Future<Counted>> own;  // a worker's unit, or none
          if ((r + i) % 4 != 0) own.push_back(mine);
          const int copies = 20 + (r * 7 + i * 13) % 60;
          for (int k = 0; k < copies; ++k) {
            Future<Counted> c = mine;
            Future<Counted> d(c);
            if (d.result().v != r) bad_reads.fetch_add(1);
            if (k % 3 == 0) mine = std::move(d);
          }
          if ((r + i) % 3 == 0) from_worker[i] = mine;  // owner releases it
          // Release the owner's unit first (may take the count below zero)
          // or last.
          if ((r + i) % 2 == 0) static_cast<void>(Future<Counted>(std::move(mine)));
          own.clear();
        }
        end.arrive_and_wait();
      }
    });
  }
  for (int r = 0; r < kRounds; ++r) {
    {
      Future<Counted> f = ready(r);
      for (auto& slot : to_worker) slot = f;
      start.arrive_and_wait();
      const int copies = 10 + (r * 11) % 50;
      for (int k = 0; k < copies; ++k) {
        Future<Counted> c = f;
        Future<Counted> d = c;
        if (d.result().v != r) bad_reads.fetch_add(1);
      }
      if (r % 2 == 0) static_cast<void>(Future<Counted>(std::move(f)));  // released early
    }
    end.arrive_and_wait();
    for (auto& slot : from_worker) static_cast<void>(Future<Counted>(std::move(slot)));
    future_internal::drain_released();
    if (live() != 0 && first_leak < 0) first_leak = r;
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(first_leak, -1) << "a state outlived its round";
  EXPECT_EQ(bad_reads.load(), 0);
}

TEST_F(FutureThreadsTest, CopiesOnFourThreadsWhileTheOwnerCopies) {
  copies_on_four_threads(true);
}

TEST_F(FutureThreadsTest, CopiesOnFourThreadsOfASharedFuture) {
  copies_on_four_threads(false);  // made with no loop: counted atomically
}

// A handle made on the owner thread, moved to a worker and released there
// (the last one): freed at the owner's next drain (next loop iteration).
TEST_F(FutureThreadsTest, ReleasedOnAWorkerIsFreedAtTheOwnersNextDrain) {
  LoopThreadScope scope;
  Future<Counted> f = ready(1);
  std::thread([g = std::move(f)] {}).join();
  EXPECT_EQ(live(), 1);  // queued for the owner
  future_internal::drain_released();
  EXPECT_EQ(live(), 0);
}

// The owner releases last, a handle a worker copied: the owner's count
// reaches zero with nothing counted elsewhere, so it frees at once.
TEST_F(FutureThreadsTest, OwnerReleasesAHandleAWorkerCopied) {
  LoopThreadScope scope;
  Future<Counted> f = ready(1);
  std::optional<Future<Counted>> back;
  std::thread([&back, g = f]() mutable { back.emplace(g); }).join();
  static_cast<void>(Future<Counted>(std::move(f)));
  EXPECT_EQ(live(), 1);
  back.reset();
  EXPECT_EQ(live(), 0);
}

// The owner's count reaches zero while a worker still holds a handle: the
// owner merges, and the worker's release frees, at once.
TEST_F(FutureThreadsTest, OwnerMergesWhileAWorkerHoldsOne) {
  LoopThreadScope scope;
  Future<Counted> f = ready(1);
  std::optional<Future<Counted>> back, kept;
  std::thread([&back, &kept, g = f]() mutable {
    back.emplace(g);
    kept.emplace(g);
  }).join();
  static_cast<void>(Future<Counted>(std::move(f)));
  back.reset();  // the owner's count is zero now: merged
  EXPECT_EQ(live(), 1);
  std::thread([&kept] { kept.reset(); }).join();
  EXPECT_EQ(live(), 0);
}

// A future made on a thread with no loop, moved to an owner thread and
// released there: shared, so freed at once.
TEST_F(FutureThreadsTest, MadeOnAWorkerReleasedOnTheOwnerIsFreedAtOnce) {
  LoopThreadScope scope;
  std::optional<Future<Counted>> f;
  std::thread([&f] {
    f = ready(2);
    Future<Counted> copy = *f;  // and released here
  }).join();
  EXPECT_EQ(live(), 1);
  f.reset();
  EXPECT_EQ(live(), 0);
}

// Owner threads exit while other threads still hold their futures; these
// release them later (and meanwhile). Each release after the exit merges
// the state on the spot: everything freed, nothing left queued.
TEST_F(FutureThreadsTest, OwnerThreadsExitWhileOthersHoldTheirFutures) {
  constexpr int kOwners = 4;
  constexpr int kPerOwner = 300;
  std::mutex mu;
  std::vector<Future<Counted>> pool;  // guarded by mu
  std::atomic<int> owners_left{kOwners};
  std::atomic<int> bad_reads{0};
  std::vector<Future<Counted>> kept;  // released by this thread at the end
  std::mutex kept_mu;
  std::vector<std::thread> threads;
  for (int o = 0; o < kOwners; ++o) {
    threads.emplace_back([&, o] {
      LoopThreadScope scope;
      std::vector<Future<Counted>> mine;
      for (int i = 0; i < kPerOwner; ++i) {
        Future<Counted> f = ready(o * kPerOwner + i);
        {
          std::lock_guard<std::mutex> lock(mu);
          pool.push_back(f);
          if (i % 2 == 0) pool.push_back(f);
        }
        if (i % 3 == 0) {
          std::lock_guard<std::mutex> lock(kept_mu);
          kept.push_back(f);
        }
        if (i % 5 == 0) mine.push_back(std::move(f));
        if (i % 50 == 0) future_internal::drain_released();
      }
      owners_left.fetch_sub(1);
      // `mine` is released here, some states being merged or queued by
      // then; the thread's exit drains and orphans its queue.
    });
  }
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&] {
      for (;;) {
        std::optional<Future<Counted>> f;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!pool.empty()) {
            f = std::move(pool.back());
            pool.pop_back();
          }
        }
        if (!f) {
          if (owners_left.load() == 0) {
            std::lock_guard<std::mutex> lock(mu);
            if (pool.empty()) return;
          }
          std::this_thread::yield();
          continue;
        }
        Future<Counted> copy = *f;
        if (!copy.done()) bad_reads.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(live(), 0);
  EXPECT_EQ(bad_reads.load(), 0);
  kept.clear();  // the owners have exited: freed here and now
  EXPECT_EQ(live(), 0);
}

// The owner exits first; another thread releases the last handle later,
// which merges the state on the spot (the orphaned queue) and frees it.
TEST_F(FutureThreadsTest, OwnerExitedBeforeTheLastRelease) {
  std::optional<Future<Counted>> f;
  std::thread([&f] {
    LoopThreadScope scope;
    Future<Counted> mine = ready(6);
    f.emplace(mine);  // counted by the owner, released by another thread
  }).join();
  EXPECT_EQ(live(), 1);
  f.reset();
  EXPECT_EQ(live(), 0);
}

// A loop thread that exits while holding nothing: states another thread
// released before the exit are merged by the exit's drain.
TEST_F(FutureThreadsTest, OwnerExitDrainsItsQueue) {
  std::thread([] {
    LoopThreadScope scope;
    Future<Counted> f = ready(3);
    std::thread([g = std::move(f)] {}).join();
    EXPECT_EQ(live(), 1);  // queued; the exit drains it
  }).join();
  EXPECT_EQ(live(), 0);
}

// Nested scopes restore the mode: after the outer one, futures are shared
// again and freed wherever released.
TEST_F(FutureThreadsTest, ScopesNestAndRestore) {
  {
    LoopThreadScope outer;
    { LoopThreadScope inner; }
    Future<Counted> f = ready(4);
    std::thread([g = std::move(f)] {}).join();
    EXPECT_EQ(live(), 1);  // still biased to this thread
    future_internal::drain_released();
    EXPECT_EQ(live(), 0);
  }
  Future<Counted> f = ready(5);
  std::thread([g = std::move(f)] {}).join();
  EXPECT_EQ(live(), 0);  // shared: freed by the worker
}

}  // namespace
}  // namespace tornado
