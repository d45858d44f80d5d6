// //queues: Tornado 4.5.3's tornado/test/queues_test.py ported test by test
// (each test names the one it follows), then what Tornado does not test:
// cancellation, timeout races, move-only items, lifetimes and allocation.
//
// Tornado tests that do not apply, and why:
//   - QueueBasicTest.test_repr_and_str: there is no repr; the counts it
//     shows (getters, putters) are read through waiting_getters() and
//     waiting_putters() in QueueBasicCounts below.
//   - The first assertion of QueueBasicTest.test_maxsize (maxsize=None is
//     a TypeError): `int maxsize` cannot be None; the negative case is
//     ported.
//   - QueueGetTest.test_async_for: C++ has no `async for`; the loop it
//     stands for (`for (;;) item = co_await q.get();`) is what the join
//     and producer/consumer tests run.
//   - QueuePutTest.test_float_maxsize: maxsize is an int here, so no
//     fractional bound exists.
// Tornado's *_clears_timed_out_* tests check that timed-out waiters are
// dropped from its deques at the next put or get; here they are dropped at
// once, so the ported tests expect the counts to fall at the timeout.

#include "tornado/queues/queues.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tornado/gen/gen.h"
#include "tornado/testing/alloc_counter.h"
#include "tornado/testing/async_test.h"
#include "tornado/testing/counted.h"

namespace tornado::queues {
namespace {

using namespace std::chrono_literals;

class QueuesTest : public tornado::testing::AsyncTest {
 protected:
  // Runs the loop for `n` iterations.
  void spin(int n = 1) {
    run([n]() -> Future<void> {
      for (int i = 0; i < n; ++i) co_await gen::moment;
    });
  }
  // Runs the loop until `f` is done; true if it failed with TimeoutError
  // (run() would take that for the test body's own timeout).
  template <class T>
  bool times_out(Future<T> f) {
    run_until_done(f);
    return testing::holds<TimeoutError>(testing::failure(f));
  }
  void sleep(std::chrono::milliseconds d) {
    run([d] { return gen::sleep(d); });
  }
};

// ---- QueueBasicTest --------------------------------------------------------------

// What QueueBasicTest.test_repr_and_str shows: getters, putters.
TEST_F(QueuesTest, QueueBasicCounts) {
  Queue<int> q(1);
  Future<int> g = q.get();
  EXPECT_EQ(q.maxsize(), 1);
  EXPECT_EQ(q.waiting_getters(), 1u);
  EXPECT_EQ(q.waiting_putters(), 0u);
  EXPECT_TRUE(q.put(0).done());  // to the getter
  EXPECT_TRUE(q.put(0).done());
  // Now the queue is full: this putter blocks.
  Future<void> p = q.put(0);
  EXPECT_FALSE(p.done());
  EXPECT_EQ(q.waiting_getters(), 0u);
  EXPECT_EQ(q.waiting_putters(), 1u);
}

// Follows QueueBasicTest.test_order.
TEST_F(QueuesTest, Order) {
  Queue<int> q;
  for (int i : {1, 3, 2}) q.put_nowait(i);
  std::vector<int> items;
  for (int i = 0; i < 3; ++i) items.push_back(q.get_nowait());
  EXPECT_EQ(items, (std::vector<int>{1, 3, 2}));
}

// Follows QueueBasicTest.test_maxsize.
TEST_F(QueuesTest, Maxsize) {
  EXPECT_THROW(Queue<int>(-1), std::invalid_argument);
  EXPECT_THROW(PriorityQueue<int>(-1), std::invalid_argument);
  EXPECT_THROW(LifoQueue<int>(-1), std::invalid_argument);
  Queue<int> q(2);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
  EXPECT_EQ(q.maxsize(), 2);
  EXPECT_TRUE(q.put(0).done());
  EXPECT_TRUE(q.put(1).done());
  EXPECT_FALSE(q.empty());
  EXPECT_TRUE(q.full());
  Future<void> put2 = q.put(2);
  EXPECT_FALSE(put2.done());
  EXPECT_EQ(run([&] { return q.get(); }), 0);  // make room
  EXPECT_TRUE(put2.done());
  EXPECT_FALSE(q.empty());
  EXPECT_TRUE(q.full());
}

// ---- QueueGetTest ------------------------------------------------------------------

// Follows QueueGetTest.test_blocking_get.
TEST_F(QueuesTest, BlockingGet) {
  Queue<int> q;
  q.put_nowait(0);
  EXPECT_EQ(run([&] { return q.get(); }), 0);
}

// Follows QueueGetTest.test_nonblocking_get.
TEST_F(QueuesTest, NonblockingGet) {
  Queue<int> q;
  q.put_nowait(0);
  EXPECT_EQ(q.get_nowait(), 0);
}

// Follows QueueGetTest.test_nonblocking_get_exception.
TEST_F(QueuesTest, NonblockingGetException) {
  Queue<int> q;
  EXPECT_THROW(q.get_nowait(), QueueEmpty);
  static_assert(std::is_base_of_v<std::runtime_error, QueueEmpty>);
  static_assert(std::is_base_of_v<std::runtime_error, QueueFull>);
}

// Follows QueueGetTest.test_get_with_putters.
TEST_F(QueuesTest, GetWithPutters) {
  Queue<int> q(1);
  q.put_nowait(0);
  Future<void> put = q.put(1);
  EXPECT_EQ(run([&] { return q.get(); }), 0);
  run([&] { return put; });
  EXPECT_EQ(q.get_nowait(), 1);
}

// Follows QueueGetTest.test_blocking_get_wait.
TEST_F(QueuesTest, BlockingGetWait) {
  Queue<int> q;
  static_cast<void>(q.put(0));
  loop().call_later(10ms, [&] { static_cast<void>(q.put(1)); });
  loop().call_later(20ms, [&] { static_cast<void>(q.put(2)); });
  EXPECT_EQ(run([&] { return q.get(1s); }), 0);
  EXPECT_EQ(run([&] { return q.get(1s); }), 1);
}

// Follows QueueGetTest.test_get_timeout.
TEST_F(QueuesTest, GetTimeout) {
  Queue<int> q;
  Future<int> get_timeout = q.get(10ms);
  Future<int> get = q.get();
  EXPECT_TRUE(times_out(get_timeout));
  q.put_nowait(0);
  EXPECT_EQ(run([&] { return get; }), 0);
}

// Follows QueueGetTest.test_get_timeout_preempted.
TEST_F(QueuesTest, GetTimeoutPreempted) {
  Queue<int> q;
  Future<int> get = q.get(10ms);
  static_cast<void>(q.put(0));
  sleep(20ms);
  EXPECT_EQ(run([&] { return get; }), 0);
}

// Follows QueueGetTest.test_get_clears_timed_out_putters.
TEST_F(QueuesTest, GetClearsTimedOutPutters) {
  Queue<int> q(1);
  // The first putter succeeds, the others block.
  std::vector<Future<void>> putters;
  for (int i = 0; i < 10; ++i) putters.push_back(q.put(i, 10ms));
  Future<void> put = q.put(10);
  EXPECT_EQ(q.waiting_putters(), 10u);
  sleep(30ms);
  EXPECT_EQ(q.waiting_putters(), 1u);  // Tornado: still 10 until a get
  EXPECT_FALSE(put.done());            // the final waiter is still active
  Future<void> put11 = q.put(11);
  EXPECT_EQ(run([&] { return q.get(); }), 0);
  EXPECT_EQ(q.waiting_putters(), 1u);
  for (size_t i = 1; i < putters.size(); ++i) EXPECT_THROW(putters[i].result(), TimeoutError);
  EXPECT_TRUE(put.done());
  EXPECT_FALSE(put11.done());
}

// Follows QueueGetTest.test_get_clears_timed_out_getters.
TEST_F(QueuesTest, GetClearsTimedOutGetters) {
  Queue<int> q;
  std::vector<Future<int>> getters;
  for (int i = 0; i < 10; ++i) getters.push_back(q.get(10ms));
  Future<int> get = q.get();
  EXPECT_EQ(q.waiting_getters(), 11u);
  sleep(30ms);
  EXPECT_EQ(q.waiting_getters(), 1u);  // Tornado: still 11 until a get
  EXPECT_FALSE(get.done());            // the final waiter is still active
  Future<int> another = q.get();
  EXPECT_EQ(q.waiting_getters(), 2u);
  for (auto& g : getters) EXPECT_THROW(g.result(), TimeoutError);
  static_cast<void>(another);
}

// ---- QueuePutTest ------------------------------------------------------------------

// Follows QueuePutTest.test_blocking_put.
TEST_F(QueuesTest, BlockingPut) {
  Queue<int> q;
  run([&] { return q.put(0); });
  EXPECT_EQ(q.get_nowait(), 0);
}

// Follows QueuePutTest.test_nonblocking_put_exception.
TEST_F(QueuesTest, NonblockingPutException) {
  Queue<int> q(1);
  static_cast<void>(q.put(0));
  EXPECT_THROW(q.put_nowait(1), QueueFull);
}

// Follows QueuePutTest.test_put_with_getters.
TEST_F(QueuesTest, PutWithGetters) {
  Queue<int> q;
  Future<int> get0 = q.get();
  Future<int> get1 = q.get();
  run([&]() -> Future<void> {
    co_await q.put(0);
    EXPECT_EQ(co_await get0, 0);
    co_await q.put(1);
    EXPECT_EQ(co_await get1, 1);
  });
}

// Follows QueuePutTest.test_nonblocking_put_with_getters. (put_nowait
// completes the getter's future at once; a coroutine awaiting it resumes
// from the loop.)
TEST_F(QueuesTest, NonblockingPutWithGetters) {
  Queue<int> q;
  Future<int> get0 = q.get();
  Future<int> get1 = q.get();
  run([&]() -> Future<void> {
    q.put_nowait(0);
    co_await gen::moment;
    EXPECT_EQ(co_await get0, 0);
    q.put_nowait(1);
    co_await gen::moment;
    EXPECT_EQ(co_await get1, 1);
  });
}

// Follows QueuePutTest.test_blocking_put_wait.
TEST_F(QueuesTest, BlockingPutWait) {
  Queue<int> q(1);
  q.put_nowait(0);
  loop().call_later(10ms, [&] { static_cast<void>(q.get()); });
  loop().call_later(20ms, [&] { static_cast<void>(q.get()); });
  std::vector<Future<void>> futures{q.put(0), q.put(1)};
  for (auto& f : futures) EXPECT_FALSE(f.done());
  run([&] { return gen::multi(futures); });
}

// Follows QueuePutTest.test_put_timeout.
TEST_F(QueuesTest, PutTimeout) {
  Queue<int> q(1);
  q.put_nowait(0);  // now it is full
  Future<void> put_timeout = q.put(1, 10ms);
  Future<void> put = q.put(2);
  EXPECT_TRUE(times_out(put_timeout));
  EXPECT_EQ(q.get_nowait(), 0);
  // 1 was never put in the queue.
  EXPECT_EQ(run([&] { return q.get(); }), 2);
  // The final get() unblocked this putter.
  run([&] { return put; });
}

// Follows QueuePutTest.test_put_timeout_preempted.
TEST_F(QueuesTest, PutTimeoutPreempted) {
  Queue<int> q(1);
  q.put_nowait(0);
  Future<void> put = q.put(1, 10ms);
  static_cast<void>(q.get());
  sleep(20ms);
  run([&] { return put; });  // no TimeoutError
}

// Follows QueuePutTest.test_put_clears_timed_out_putters.
TEST_F(QueuesTest, PutClearsTimedOutPutters) {
  Queue<int> q(1);
  std::vector<Future<void>> putters;
  for (int i = 0; i < 10; ++i) putters.push_back(q.put(i, 10ms));
  Future<void> put = q.put(10);
  EXPECT_EQ(q.waiting_putters(), 10u);
  sleep(30ms);
  EXPECT_EQ(q.waiting_putters(), 1u);  // Tornado: still 10 until a put
  EXPECT_FALSE(put.done());
  Future<void> put11 = q.put(11);
  EXPECT_EQ(q.waiting_putters(), 2u);
  for (size_t i = 1; i < putters.size(); ++i) EXPECT_THROW(putters[i].result(), TimeoutError);
  static_cast<void>(put11);
}

// Follows QueuePutTest.test_put_clears_timed_out_getters.
TEST_F(QueuesTest, PutClearsTimedOutGetters) {
  Queue<int> q;
  std::vector<Future<int>> getters;
  for (int i = 0; i < 10; ++i) getters.push_back(q.get(10ms));
  Future<int> get = q.get();
  Future<int> last = q.get();
  EXPECT_EQ(q.waiting_getters(), 12u);
  sleep(30ms);
  EXPECT_EQ(q.waiting_getters(), 2u);  // Tornado: still 12 until a put
  EXPECT_FALSE(get.done());
  static_cast<void>(q.put(0));
  EXPECT_EQ(q.waiting_getters(), 1u);
  EXPECT_EQ(run([&] { return get; }), 0);
  for (auto& g : getters) EXPECT_THROW(g.result(), TimeoutError);
  static_cast<void>(last);
}

// ---- QueueJoinTest, PriorityQueueJoinTest, LifoQueueJoinTest ----------------------

template <class Q>
class JoinTest : public QueuesTest {};
using AllQueues = ::testing::Types<Queue<int>, PriorityQueue<int>, LifoQueue<int>>;
TYPED_TEST_SUITE(JoinTest, AllQueues);

// Follows QueueJoinTest.test_task_done_underflow.
TYPED_TEST(JoinTest, TaskDoneUnderflow) {
  TypeParam q;
  EXPECT_THROW(q.task_done(), std::logic_error);
}

// Follows QueueJoinTest.test_task_done.
TYPED_TEST(JoinTest, TaskDone) {
  TypeParam q;
  for (int i = 0; i < 100; ++i) q.put_nowait(i);
  int accumulator = 0;
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> jitter(0, 10);
  auto worker = [&]() -> Future<void> {
    for (;;) {
      int item = co_await q.get();
      accumulator += item;
      q.task_done();
      co_await gen::sleep(std::chrono::microseconds(jitter(rng) * 100));
    }
  };
  // Two coroutines share the work.
  Future<void> w1 = worker();
  Future<void> w2 = worker();
  this->run([&] { return q.join(); });
  EXPECT_EQ(accumulator, 99 * 100 / 2);
  w1.cancel();
  w2.cancel();
  this->run_until_done(w1);
  this->run_until_done(w2);
}

// Follows QueueJoinTest.test_task_done_delay: task_done(), not get(),
// completes join().
TYPED_TEST(JoinTest, TaskDoneDelay) {
  TypeParam q;
  q.put_nowait(0);
  Future<void> join = q.join();
  EXPECT_FALSE(join.done());
  this->run([&] { return q.get(); });
  EXPECT_FALSE(join.done());
  this->spin(1);
  EXPECT_FALSE(join.done());
  q.task_done();
  EXPECT_TRUE(join.done());
}

// Follows QueueJoinTest.test_join_empty_queue.
TYPED_TEST(JoinTest, JoinEmptyQueue) {
  TypeParam q;
  this->run([&] { return q.join(); });
  this->run([&] { return q.join(); });
}

// Follows QueueJoinTest.test_join_timeout.
TYPED_TEST(JoinTest, JoinTimeout) {
  TypeParam q;
  static_cast<void>(q.put(0));
  EXPECT_TRUE(this->times_out(q.join(10ms)));
}

// Follows PriorityQueueJoinTest.test_order.
TEST_F(QueuesTest, PriorityQueueOrder) {
  using Entry = std::pair<int, std::string>;
  PriorityQueue<Entry> q(2);
  q.put_nowait({1, "a"});
  q.put_nowait({0, "b"});
  EXPECT_TRUE(q.full());
  Future<void> p3 = q.put({3, "c"});
  Future<void> p2 = q.put({2, "d"});
  EXPECT_EQ(q.get_nowait(), (Entry{0, "b"}));
  EXPECT_EQ(run([&] { return q.get(); }), (Entry{1, "a"}));
  EXPECT_EQ(q.get_nowait(), (Entry{2, "d"}));
  EXPECT_EQ(run([&] { return q.get(); }), (Entry{3, "c"}));
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(p3.done() && p2.done());
}

// Follows LifoQueueJoinTest.test_order.
TEST_F(QueuesTest, LifoQueueOrder) {
  LifoQueue<int> q(2);
  q.put_nowait(1);
  q.put_nowait(0);
  EXPECT_TRUE(q.full());
  Future<void> p3 = q.put(3);
  Future<void> p2 = q.put(2);
  EXPECT_EQ(q.get_nowait(), 3);
  EXPECT_EQ(run([&] { return q.get(); }), 2);
  EXPECT_EQ(q.get_nowait(), 0);
  EXPECT_EQ(run([&] { return q.get(); }), 1);
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(p3.done() && p2.done());
}

// PriorityQueue with a Compare: greatest first.
TEST_F(QueuesTest, PriorityQueueCompare) {
  PriorityQueue<int, std::greater<int>> q;
  for (int i : {3, 9, 1, 7, 5}) q.put_nowait(i);
  std::vector<int> out;
  while (!q.empty()) out.push_back(q.get_nowait());
  EXPECT_EQ(out, (std::vector<int>{9, 7, 5, 3, 1}));
}

// ---- ProducerConsumerTest ----------------------------------------------------------

// Follows ProducerConsumerTest.test_producer_consumer.
TEST_F(QueuesTest, ProducerConsumer) {
  Queue<int> q(3);
  std::vector<int> history;
  // No co_await between get() and task_done(): get() must resume from the
  // loop, or join() would complete before put() resumed.
  auto consumer = [&]() -> Future<void> {
    for (;;) {
      history.push_back(co_await q.get());
      q.task_done();
    }
  };
  auto producer = [&]() -> Future<void> {
    for (int item = 0; item < 10; ++item) co_await q.put(item);
  };
  Future<void> c = consumer();
  run([&]() -> Future<void> {
    co_await producer();
    co_await q.join();
  });
  EXPECT_EQ(history, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  c.cancel();
  run_until_done(c);
}

// ---- Cancellation -------------------------------------------------------------------

// A cancelled getter is withdrawn at once: the next put goes to the next
// getter. Each call has its own future.
TEST_F(QueuesTest, CancelledGetterIsSkipped) {
  Queue<int> q;
  Future<int> a = q.get();
  Future<int> b = q.get();
  EXPECT_TRUE(a.cancel());
  EXPECT_FALSE(b.done());
  EXPECT_EQ(q.waiting_getters(), 1u);
  q.put_nowait(5);
  EXPECT_TRUE(a.cancelled());
  ASSERT_TRUE(b.done());
  EXPECT_EQ(b.result(), 5);
  EXPECT_TRUE(q.empty());
}

// A cancelled putter is withdrawn with its item: it is never put.
TEST_F(QueuesTest, CancelledPutterIsSkippedAndItsItemNotPut) {
  using tornado::testing::Counted;
  const int live = Counted::live.load();
  {
    Queue<Counted> q(1);
    q.put_nowait(Counted(0));
    Future<void> a = q.put(Counted(1));
    Future<void> b = q.put(Counted(2));
    EXPECT_EQ(Counted::live.load(), live + 3);
    a.cancel();
    EXPECT_EQ(Counted::live.load(), live + 2);  // 1 went with its putter
    EXPECT_EQ(q.get_nowait().v, 0);
    EXPECT_TRUE(b.done());
    EXPECT_EQ(q.get_nowait().v, 2);
  }
  EXPECT_EQ(Counted::live.load(), live);
}

// An item put while the only getter's coroutine was being cancelled stays
// in the queue.
TEST_F(QueuesTest, PutWhileTheOnlyGetterIsBeingCancelledStays) {
  Queue<int> q;
  auto getter = [&]() -> Future<int> { co_return co_await q.get(); };
  run([&]() -> Future<void> {
    Future<int> g = getter();
    EXPECT_EQ(q.waiting_getters(), 1u);
    g.cancel();  // the getter goes now; the coroutine resumes later
    EXPECT_EQ(q.waiting_getters(), 0u);
    q.put_nowait(7);
    while (!g.done()) co_await gen::moment;
    EXPECT_TRUE(g.cancelled());
    EXPECT_EQ(q.qsize(), 1u);
    EXPECT_EQ(q.get_nowait(), 7);
  });
}

// A getter granted an item, cancelled before its coroutine resumed: the
// item goes back to the head of the queue, still counted by join().
TEST_F(QueuesTest, CancelAfterGrantBeforeResumePutsTheItemBackAtTheHead) {
  Queue<int> q;
  auto getter = [&]() -> Future<int> { co_return co_await q.get(); };
  run([&]() -> Future<void> {
    Future<int> g = getter();
    q.put_nowait(7);  // granted: g's get() future holds 7
    q.put_nowait(8);
    EXPECT_EQ(q.qsize(), 1u);
    g.cancel();
    while (!g.done()) co_await gen::moment;
    EXPECT_TRUE(g.cancelled());
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_EQ(q.get_nowait(), 7);  // at the head
    EXPECT_EQ(q.get_nowait(), 8);
    Future<void> join = q.join();
    q.task_done();
    EXPECT_FALSE(join.done());  // two items were put
    q.task_done();
    EXPECT_TRUE(join.done());
  });
}

TEST_F(QueuesTest, CancelAfterGrantBeforeResumeGivesTheItemToTheNextGetter) {
  LifoQueue<std::unique_ptr<int>> q;
  auto getter = [&]() -> Future<int> { co_return *co_await q.get(); };
  run([&]() -> Future<void> {
    Future<int> g = getter();
    Future<std::unique_ptr<int>> next = q.get();
    q.put_nowait(std::make_unique<int>(7));
    EXPECT_FALSE(next.done());
    g.cancel();
    while (!g.done()) co_await gen::moment;
    EXPECT_TRUE(g.cancelled());
    EXPECT_TRUE(next.done());
    if (next.done()) {
      EXPECT_EQ(*next.take_result(), 7);
    }
    EXPECT_TRUE(q.empty());
  });
}

// The same with a full bounded queue: the item is not dropped, the queue
// holds maxsize + 1 until the next get.
TEST_F(QueuesTest, CancelAfterGrantBeforeResumeIntoAFullQueue) {
  PriorityQueue<int> q(1);
  auto getter = [&]() -> Future<int> { co_return co_await q.get(); };
  run([&]() -> Future<void> {
    Future<int> g = getter();
    q.put_nowait(5);  // to the getter
    q.put_nowait(1);  // full
    Future<void> blocked = q.put(9);
    g.cancel();
    while (!g.done()) co_await gen::moment;
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_TRUE(q.full());
    EXPECT_EQ(q.get_nowait(), 1);  // by priority; takes the putter's 9 in
    EXPECT_TRUE(blocked.done());
    EXPECT_EQ(q.get_nowait(), 5);
    EXPECT_EQ(q.get_nowait(), 9);
  });
}

// A put granted before its coroutine was cancelled is a put done.
TEST_F(QueuesTest, CancelAfterPutGrantedKeepsTheItem) {
  Queue<int> q(1);
  auto putter = [&]() -> Future<void> { co_await q.put(2); };
  run([&]() -> Future<void> {
    q.put_nowait(1);
    Future<void> p = putter();
    EXPECT_EQ(q.get_nowait(), 1);  // 2 goes in, p's future completes
    p.cancel();
    while (!p.done()) co_await gen::moment;
    EXPECT_TRUE(p.cancelled());
    EXPECT_EQ(q.get_nowait(), 2);
  });
}

// ---- Timeouts ---------------------------------------------------------------------

TEST_F(QueuesTest, ZeroAndPastTimeouts) {
  Queue<int> q(1);
  Future<int> get0 = q.get(0s);
  EXPECT_FALSE(get0.done());
  spin(1);
  EXPECT_THROW(get0.result(), TimeoutError);
  EXPECT_TRUE(q.put(1, 0s).done());  // room: at once
  Future<void> put0 = q.put(2, std::chrono::steady_clock::now() - 1s);
  EXPECT_FALSE(put0.done());
  EXPECT_EQ(run([&] { return q.get(0s); }), 1);  // an item: at once
  // put0's item went in when that get made room.
  EXPECT_TRUE(put0.done());
  EXPECT_EQ(q.get_nowait(), 2);
  Future<void> join0 = q.join(std::chrono::duration<double>(0));
  spin(1);
  EXPECT_THROW(join0.result(), TimeoutError);
  q.task_done();
  q.task_done();
  EXPECT_TRUE(q.join(0s).done());
}

// ---- Items that are only move-constructible -------------------------------------------

struct OnlyMoveConstructible {
  explicit OnlyMoveConstructible(int v) : v(v) {}
  OnlyMoveConstructible(OnlyMoveConstructible&&) = default;
  OnlyMoveConstructible& operator=(OnlyMoveConstructible&&) = delete;
  OnlyMoveConstructible(const OnlyMoveConstructible&) = delete;
  const int v;
  bool operator<(const OnlyMoveConstructible& o) const { return v < o.v; }
};

template <class Q>
class MoveOnlyTest : public QueuesTest {};
using MoveOnlyQueues =
    ::testing::Types<Queue<OnlyMoveConstructible>, PriorityQueue<OnlyMoveConstructible>,
                     LifoQueue<OnlyMoveConstructible>>;
TYPED_TEST_SUITE(MoveOnlyTest, MoveOnlyQueues);

TYPED_TEST(MoveOnlyTest, PutGetAndGiveBack) {
  TypeParam q(2);
  q.put_nowait(OnlyMoveConstructible(1));
  EXPECT_TRUE(q.put(OnlyMoveConstructible(1)).done());
  Future<void> blocked = q.put(OnlyMoveConstructible(1));
  EXPECT_EQ(q.get_nowait().v, 1);
  EXPECT_TRUE(blocked.done());
  EXPECT_EQ(this->run([&] { return q.get(); }).v, 1);
  EXPECT_EQ(q.get_nowait().v, 1);
  auto getter = [&]() -> Future<int> {
    auto item = co_await q.get();
    co_return item.v;
  };
  this->run([&]() -> Future<void> {
    Future<int> g = getter();
    q.put_nowait(OnlyMoveConstructible(4));
    g.cancel();
    while (!g.done()) co_await gen::moment;
    EXPECT_EQ(q.get_nowait().v, 4);  // given back, not lost
    EXPECT_TRUE(q.empty());
  });
}

// ---- Lifetimes (run these under --config=asan) ---------------------------------------

TEST_F(QueuesTest, QueueDestroyedBeforeItsFutures) {
  using tornado::testing::Counted;
  const int live = Counted::live.load();
  Future<Counted> get, timed_get;
  Future<void> put, join;
  {
    Queue<Counted> q;
    get = q.get();
    timed_get = q.get(10ms);
  }
  {
    Queue<Counted> q(1);
    q.put_nowait(Counted(1));
    put = q.put(Counted(2), 10ms);
    join = q.join();
  }
  EXPECT_EQ(Counted::live.load(), live);  // the items went with the queue
  sleep(20ms);
  EXPECT_FALSE(get.done());
  EXPECT_FALSE(timed_get.done());
  EXPECT_FALSE(put.done());
  EXPECT_TRUE(get.cancel());
  EXPECT_TRUE(put.cancel());
}

TEST_F(QueuesTest, GrantedItemOutlivesItsQueue) {
  Future<std::unique_ptr<int>> f;
  {
    Queue<std::unique_ptr<int>> q;
    f = q.get();
    q.put_nowait(std::make_unique<int>(3));
  }
  ASSERT_TRUE(f.done());
  EXPECT_EQ(*f.take_result(), 3);
}

// ---- Allocation ---------------------------------------------------------------------

// N waiting gets and N puts handed to them allocate the N get futures and
// the N (done) put futures; nothing per wait besides.
TEST(QueuesAllocTest, ContendedGetsAllocateOnlyTheirFutures) {
  if (!tornado::testing::counting_works()) GTEST_SKIP() << "allocations not counted here";
  IOLoop loop;
  Queue<int> q;
  constexpr int N = 1000;
  std::vector<Future<int>> gets;
  gets.reserve(N);
  for (int round = 0; round < 2; ++round) {
    gets.clear();
    tornado::testing::AllocCounter counter;
    for (int i = 0; i < N; ++i) gets.push_back(q.get());
    for (int i = 0; i < N; ++i) q.put_nowait(i);
    for (int i = 0; i < N; ++i) ASSERT_EQ(gets[i].result(), i);
    if (round == 0) {
      EXPECT_LE(counter.count(), 1u * N + 16) << counter.count();
    } else {
      EXPECT_EQ(counter.count(), 1u * N);
    }
  }
}

}  // namespace
}  // namespace tornado::queues
