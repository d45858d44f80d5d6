// Future handles across threads with real loops (issue 16, item 15):
// futures created on a loop thread while it runs are biased to it, and
// other threads may copy and release their handles (see
// future/internal/refcount.h). Run under --config=tsan and --config=asan
// (LeakSanitizer) as well.
//
// Every state holds one `Counted`: `live` is back to zero only if every
// state was destroyed, and goes negative if one is destroyed twice.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "tornado/future/future.h"
#include "tornado/testing/counted.h"
#include "gtest/gtest.h"
#include "tornado/ioloop/ioloop.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;

using testing::Counted;

int live() { return Counted::live.load(); }

// A blocking queue of (index, future) from the loop to workers; an empty
// optional tells a worker to stop.
class Channel {
 public:
  using Item = std::optional<std::pair<int, Future<Counted>>>;
  void push(Item item) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      items_.push_back(std::move(item));
    }
    cv_.notify_one();
  }
  Item pop() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !items_.empty(); });
    Item item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> items_;
};

class FutureThreadsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(live(), 0); }
  void TearDown() override { EXPECT_EQ(live(), 0); }

  // Runs `loop` until stop(), failing (and stopping) after `limit`.
  static void run(IOLoop& loop, std::chrono::milliseconds limit = 20000ms) {
    bool timed_out = false;
    auto guard = loop.call_later(limit, [&] {
      timed_out = true;
      loop.stop();
    });
    loop.start();
    loop.remove_timeout(guard);
    ASSERT_FALSE(timed_out);
  }
};

// The pattern of the issue: a worker holding a copy of a loop future
// completes it with
//   loop.add_callback([f]() mutable { f.set_result(v); });
// The lambda's copy is made on the worker and destroyed on the loop; the
// worker's own handle is released on the worker, before or after the loop
// ran the callback, or some time later.
TEST_F(FutureThreadsTest, WorkersCompleteLoopFuturesThroughAddCallback) {
  constexpr int kWorkers = 3;
  constexpr int kFutures = 3000;
  constexpr int kBatch = 10;
  IOLoop loop;
  Channel channel;
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      std::vector<Future<Counted>> held;  // released in bunches, later
      while (Channel::Item item = channel.pop()) {
        // No structured binding: clang 14 cannot capture one.
        int v = item->first;
        auto f = std::move(item->second);
        switch (v % 3) {
          case 0:  // the form: f released here, at the end
            loop.add_callback([f, v]() mutable { f.set_result(Counted(v)); });
            break;
          case 1:  // moved: the loop releases the owner's unit
            loop.add_callback(
                [f = std::move(f), v]() mutable { f.set_result(Counted(v)); });
            break;
          default:  // a copy kept a while
            held.push_back(f);
            loop.add_callback([f, v]() mutable { f.set_result(Counted(v)); });
            if (held.size() == 16) held.clear();
            break;
        }
      }
    });
  }
  int64_t sum = 0;
  int completed = 0;
  int made = 0;
  std::function<void()> produce = [&] {
    for (int i = 0; i < kBatch && made < kFutures; ++i, ++made) {
      Future<Counted> f;  // created on the running loop: biased to it
      loop.add_future(f, [&](Future<Counted> done) {
        sum += done.result().v;
        if (++completed == kFutures) loop.stop();
      });
      channel.push(std::make_pair(made, f));
    }
    if (made < kFutures) loop.add_callback(produce);
  };
  loop.add_callback(produce);
  run(loop);
  for (int w = 0; w < kWorkers; ++w) channel.push(std::nullopt);
  for (auto& t : workers) t.join();
  EXPECT_EQ(completed, kFutures);
  EXPECT_EQ(sum, int64_t{kFutures} * (kFutures - 1) / 2);
  // Handles the workers released after the loop's last iteration wait in
  // this thread's queue; close() drains it.
  loop.close();
  EXPECT_EQ(live(), 0);
}

// Copies and releases `f`'s handles `n` times.
void churn(const Future<Counted>& f, int n) {
  for (int i = 0; i < n; ++i) {
    Future<Counted> c = f;
    Future<Counted> d = c;
  }
}

// Waits for `flag`.
void wait_for(const std::atomic<bool>& flag) {
  while (!flag.load()) std::this_thread::yield();
}

// A handle made on the loop thread, moved to a worker, copied there while
// the loop thread copies its own, and released there last: freed by the
// loop's next iteration.
TEST_F(FutureThreadsTest, ReleasedOnAWorkerIsFreedByTheNextIteration) {
  IOLoop loop;
  loop.add_callback([&] {
    Future<Counted> f;  // biased to the loop thread
    f.set_result(Counted(1));
    std::atomic<bool> owner_released{false};
    std::thread worker([g = f, &owner_released] {
      churn(g, 2000);
      wait_for(owner_released);
    });  // g, the last handle, is released here
    churn(f, 2000);
    static_cast<void>(Future<Counted>(std::move(f)));
    owner_released = true;
    worker.join();
    EXPECT_EQ(live(), 1);  // queued for the loop thread
    loop.add_callback([&] {
      EXPECT_EQ(live(), 0);
      loop.stop();
    });
  });
  run(loop);
}

// A future made on a worker (no loop there), copied there while the loop
// thread copies its handle, then released on the loop thread last: freed at
// once.
TEST_F(FutureThreadsTest, MadeOnAWorkerReleasedOnTheLoopIsFreedAtOnce) {
  IOLoop loop;
  std::thread second;
  loop.add_callback([&] {
    std::optional<Future<Counted>> mine;
    std::atomic<bool> handed{false};
    std::thread worker([&] {
      Future<Counted> f;
      f.set_result(Counted(2));
      mine.emplace(f);
      handed = true;
      churn(f, 2000);
    });  // f released here
    wait_for(handed);
    churn(*mine, 2000);
    worker.join();
    EXPECT_EQ(live(), 1);
    mine.reset();  // the last handle
    EXPECT_EQ(live(), 0);
    // The same through add_callback: a worker's future, captured by copy,
    // released when the loop destroys the callback, while the worker copies
    // its own handle; freed once both are gone.
    second = std::thread([&loop] {
      Future<Counted> g;
      g.set_result(Counted(3));
      loop.add_callback([&loop, g] {
        churn(g, 2000);
        loop.add_callback([&loop] {  // runs after this one is destroyed
          loop.add_callback([&loop] { loop.stop(); });
        });
      });
      churn(g, 2000);
    });
  });
  run(loop);
  second.join();
  EXPECT_EQ(live(), 0);
}

// A loop thread exits while other threads hold handles of futures it made.
// One thread releases some while the owner still copies them, and exits;
// this thread releases the rest afterwards: freed on the spot (the exited
// thread's queue is orphaned), nothing leaked.
TEST_F(FutureThreadsTest, LoopThreadExitsBeforeOthersRelease) {
  constexpr int kFutures = 200;
  std::vector<Future<Counted>> out;    // released by this thread, at the end
  std::vector<Future<Counted>> early;  // released while the owner runs
  std::thread releaser;
  std::thread owner([&] {
    IOLoop loop;
    loop.add_callback([&] {
      for (int i = 0; i < kFutures; ++i) {
        Future<Counted> f;
        f.set_result(Counted(i));
        out.push_back(f);
        if (i % 2 == 0) out.push_back(f);
        if (i % 3 == 0) early.push_back(f);
      }
      releaser = std::thread([&early] {
        for (auto& f : early) churn(f, 20);
        early.clear();  // queued for the owner, drained or not by its exit
      });
      for (const auto& f : out) churn(f, 20);  // meanwhile
      loop.stop();
    });
    loop.start();
    loop.close();
  });
  owner.join();
  releaser.join();
  EXPECT_EQ(live(), kFutures);
  out.clear();
  EXPECT_EQ(live(), 0);
}

// IOLoop::close drains what other threads released after the loop's last
// iteration.
TEST_F(FutureThreadsTest, CloseFreesWhatWorkersReleasedAfterTheLastIteration) {
  IOLoop loop;
  std::optional<Future<Counted>> mine;
  loop.add_callback([&] {
    Future<Counted> f;
    f.set_result(Counted(4));
    mine.emplace(std::move(f));
    loop.stop();
  });
  run(loop);
  std::atomic<bool> owner_released{false};
  std::thread worker([g = *mine, &owner_released] {
    churn(g, 2000);
    wait_for(owner_released);
  });  // g, the last handle, is released here
  churn(*mine, 2000);
  mine.reset();
  owner_released = true;
  worker.join();
  EXPECT_EQ(live(), 1);
  loop.close();
  EXPECT_EQ(live(), 0);
}

}  // namespace
}  // namespace tornado
