#include "tornado/ioloop/internal/timeout_heap.h"

#include <vector>

#include "gtest/gtest.h"

namespace tornado::ioloop_internal {
namespace {

using std::chrono::milliseconds;
using time_point = TimeoutHeap::time_point;

Task record(std::vector<int>* out, int v) {
  return Task{[out, v] { out->push_back(v); }, nullptr};
}

void fire_due(TimeoutHeap& heap, time_point now) {
  std::vector<TimeoutHeap::Due> due;
  heap.pop_due(now, due);
  for (const auto& d : due) {
    Task t;
    if (heap.take(d, t)) t();
  }
}

TEST(TimeoutHeapTest, DeadlineOrderThenInsertionOrder) {
  TimeoutHeap heap;
  std::vector<int> out;
  time_point t0{};
  heap.add(t0 + milliseconds(20), record(&out, 3));
  heap.add(t0 + milliseconds(10), record(&out, 1));
  heap.add(t0 + milliseconds(10), record(&out, 2));
  heap.add(t0 + milliseconds(30), record(&out, 4));
  fire_due(heap, t0 + milliseconds(25));
  EXPECT_EQ(out, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(heap.live(), 1u);
}

TEST(TimeoutHeapTest, RemoveReleasesAtOnceAndStaleHandlesAreIgnored) {
  TimeoutHeap heap, other;
  std::vector<int> out;
  auto owned = std::make_shared<int>(1);
  auto h = heap.add(time_point{}, Task{[owned] {}, nullptr});
  EXPECT_EQ(owned.use_count(), 2);
  EXPECT_FALSE(other.remove(h));  // another heap's handle
  EXPECT_TRUE(heap.remove(h));
  EXPECT_EQ(owned.use_count(), 1);  // released before its deadline
  EXPECT_FALSE(heap.remove(h));     // twice: no-op
  EXPECT_FALSE(heap.remove(TimeoutHeap::Handle{}));
  // Once the stale entry has left the heap, the slot is reused; the old
  // handle must not cancel the new timeout.
  EXPECT_FALSE(heap.next_deadline().has_value());  // drops the stale entry
  auto h2 = heap.add(time_point{}, record(&out, 7));
  EXPECT_EQ(h2.slot, h.slot);
  EXPECT_FALSE(heap.remove(h));
  fire_due(heap, time_point{} + milliseconds(1));
  EXPECT_EQ(out, (std::vector<int>{7}));
}

TEST(TimeoutHeapTest, CompactionShrinksTheHeapAndKeepsOrder) {
  TimeoutHeap heap;
  std::vector<int> out;
  std::vector<TimeoutHeap::Handle> handles;
  time_point far = time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 2000; ++i) {
    handles.push_back(heap.add(far + milliseconds(i), record(&out, i)));
  }
  for (int i = 0; i < 2000; ++i) {
    if (i % 10 != 0) heap.remove(handles[i]);
  }
  EXPECT_EQ(heap.heap_size(), 2000u);
  std::vector<TimeoutHeap::Due> due;
  heap.pop_due(time_point{}, due);  // nothing due; compaction runs
  EXPECT_TRUE(due.empty());
  EXPECT_EQ(heap.heap_size(), 200u);
  EXPECT_EQ(heap.cancellations(), 0u);
  fire_due(heap, far + std::chrono::hours(1));
  ASSERT_EQ(out.size(), 200u);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], int(i * 10));
}

TEST(TimeoutHeapTest, NoCompactionBelowThreshold) {
  TimeoutHeap heap;
  std::vector<TimeoutHeap::Handle> handles;
  for (int i = 0; i < 600; ++i) {
    handles.push_back(heap.add(time_point{} + std::chrono::hours(1), Task{}));
  }
  // The newest 500 (not at the top, so not popped): 500 <= 512.
  for (int i = 100; i < 600; ++i) heap.remove(handles[i]);
  std::vector<TimeoutHeap::Due> due;
  heap.pop_due(time_point{}, due);
  EXPECT_EQ(heap.heap_size(), 600u);
}

TEST(TimeoutHeapTest, RemovedAfterPopDueDoesNotRun) {
  TimeoutHeap heap;
  std::vector<int> out;
  auto a = heap.add(time_point{}, record(&out, 1));
  auto b = heap.add(time_point{}, record(&out, 2));
  (void)a;
  std::vector<TimeoutHeap::Due> due;
  heap.pop_due(time_point{} + milliseconds(1), due);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_TRUE(heap.remove(b));
  for (const auto& d : due) {
    Task t;
    if (heap.take(d, t)) t();
  }
  EXPECT_EQ(out, (std::vector<int>{1}));
}

}  // namespace
}  // namespace tornado::ioloop_internal
