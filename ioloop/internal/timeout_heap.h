// ioloop internals: the timeout heap (Tornado's `_timeouts`).
//
// A binary min-heap of (deadline, insertion number) so that equal
// deadlines fire in the order added. The callables live in a slab of slots
// reused through a free list; a handle names a slot and its generation, so
// a stale handle (fired, removed, or another heap's) is recognised and
// ignored. Cancellation is lazy as in Tornado: `remove` releases the
// callable at once, the heap entry stays until it reaches the top; when
// cancelled entries exceed 512 and half the heap, the heap is rebuilt
// without them.
//
// Layout, for a large heap's cache misses: a heap entry is 16 bytes
// (deadline, slot). A slot is not reused while an entry names it, so the
// slot identifies the entry: its insertion number (read only to break a
// tie between equal deadlines) and its state live in small per-slot
// arrays, apart from the 64-byte callables.
//
// Thread-compatible: used only by the loop's thread.

#ifndef TORNADO_IOLOOP_INTERNAL_TIMEOUT_HEAP_H_
#define TORNADO_IOLOOP_INTERNAL_TIMEOUT_HEAP_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "tornado/ioloop/internal/task.h"

namespace tornado::ioloop_internal {

class TimeoutHeap {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  struct Handle {
    const void* owner = nullptr;
    uint32_t slot = 0;
    uint32_t generation = 0;  // 0: never valid
  };
  // A timeout taken off the heap as due, to be run unless removed first.
  struct Due {
    uint32_t slot;
    uint32_t generation;
  };

  static constexpr size_t kCompactMinimum = 512;

  Handle add(time_point deadline, Task task);
  // Cancels a pending timeout; false (and nothing done) for a handle that
  // fired, was removed, or belongs to another heap.
  bool remove(const Handle& h);
  // Takes every live entry with deadline <= now off the heap, in order,
  // dropping cancelled ones met on the way; then compacts if worthwhile.
  void pop_due(time_point now, std::vector<Due>& out);
  // Moves the task of a due entry out (freeing its slot); false if it was
  // removed after pop_due.
  bool take(const Due& due, Task& out);
  // The nearest live deadline (cancelled tops are dropped), if any.
  std::optional<time_point> next_deadline();

  bool empty() const { return heap_.empty(); }
  size_t heap_size() const { return heap_.size(); }
  size_t cancellations() const { return cancellations_; }
  size_t live() const { return live_; }
  void clear();

 private:
  struct Entry {
    int64_t deadline;  // steady_clock ticks
    uint64_t slot;     // 64 bits: the entry stays 16 bytes, trivially copied
  };
  struct Later {
    const std::vector<uint64_t>* seq;
    bool operator()(const Entry& a, const Entry& b) const {
      return a.deadline != b.deadline ? a.deadline > b.deadline
                                      : (*seq)[a.slot] > (*seq)[b.slot];
    }
  };
  Later later() const { return Later{&seq_of_}; }
  // Per slot: the generation, with kLive set while its timeout is pending
  // (not fired, not removed). Kept apart from the callables (4 bytes
  // against 64) so that the staleness checks of a pop stay in cache.
  static constexpr uint32_t kLive = 0x80000000u;

  bool stale(const Entry& e) const { return !(meta_[e.slot] & kLive); }
  bool valid(uint32_t slot, uint32_t generation) const {
    return slot < meta_.size() && meta_[slot] == (generation | kLive);
  }
  void free_slot(uint32_t i);
  void pop_top();
  void compact_if_needed();

  std::vector<Entry> heap_;
  std::vector<Task> tasks_;
  std::vector<uint32_t> meta_;
  std::vector<uint64_t> seq_of_;  // insertion number of the slot's entry
  std::vector<uint32_t> free_;
  uint64_t seq_ = 0;
  size_t cancellations_ = 0;
  size_t live_ = 0;
};

}  // namespace tornado::ioloop_internal

#endif  // TORNADO_IOLOOP_INTERNAL_TIMEOUT_HEAP_H_
