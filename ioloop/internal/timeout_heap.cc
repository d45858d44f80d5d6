#include "tornado/ioloop/internal/timeout_heap.h"

#include <algorithm>

#include "tornado/ioloop/internal/reserve.h"

namespace tornado::ioloop_internal {

TimeoutHeap::Handle TimeoutHeap::add(time_point deadline, Task task) {
  // Make room first (the strong guarantee): a new slot needs room in every
  // per-slot array, and free_ always has room for every slot so that
  // freeing one never allocates; the heap needs room for the entry.
  reserve_one_more(heap_);
  if (free_.empty()) {
    reserve_one_more(tasks_);
    reserve_more(meta_, tasks_.capacity() - meta_.size());
    reserve_more(seq_of_, tasks_.capacity() - seq_of_.size());
    reserve_more(free_, tasks_.capacity() - free_.size());
  }
  // Nothing below throws.
  uint32_t i;
  if (!free_.empty()) {
    i = free_.back();
    free_.pop_back();
  } else {
    i = static_cast<uint32_t>(tasks_.size());
    tasks_.emplace_back();
    meta_.push_back(1);
    seq_of_.push_back(0);
  }
  tasks_[i] = std::move(task);
  const uint32_t generation = meta_[i];
  meta_[i] = generation | kLive;
  seq_of_[i] = seq_++;
  ++live_;
  heap_.push_back({deadline.time_since_epoch().count(), i});
  std::push_heap(heap_.begin(), heap_.end(), later());
  return {this, i, generation};
}

// Called once per entry, when it leaves the heap for good (popped stale,
// compacted away, or taken after pop_due): only then may the slot be
// reused, and the generation moves on so old handles stay stale.
void TimeoutHeap::free_slot(uint32_t i) {
  uint32_t generation = (meta_[i] & ~kLive) + 1;
  if (generation == kLive) generation = 1;  // wrap; 0 stays "never valid"
  meta_[i] = generation;
  free_.push_back(i);
}

bool TimeoutHeap::remove(const Handle& h) {
  if (h.owner != this || h.generation == 0 || !valid(h.slot, h.generation)) {
    return false;
  }
  Task released = std::move(tasks_[h.slot]);  // released now, not at its deadline
  tasks_[h.slot] = Task();
  meta_[h.slot] &= ~kLive;  // the slot stays taken until its entry leaves
  --live_;
  ++cancellations_;
  return true;
}

void TimeoutHeap::pop_top() {
  std::pop_heap(heap_.begin(), heap_.end(), later());
  heap_.pop_back();
}

void TimeoutHeap::pop_due(time_point now, std::vector<Due>& out) {
  const int64_t now_ticks = now.time_since_epoch().count();
  while (!heap_.empty()) {
    const Entry& top = heap_.front();
    if (stale(top)) {
      if (cancellations_ > 0) --cancellations_;
      uint32_t slot = static_cast<uint32_t>(top.slot);
      pop_top();
      free_slot(slot);
    } else if (top.deadline <= now_ticks) {
      uint32_t slot = static_cast<uint32_t>(top.slot);
      out.push_back({slot, meta_[slot] & ~kLive});
      pop_top();
    } else {
      break;
    }
  }
  compact_if_needed();
}

void TimeoutHeap::compact_if_needed() {
  if (cancellations_ <= kCompactMinimum || cancellations_ <= heap_.size() / 2) {
    return;
  }
  cancellations_ = 0;
  heap_.erase(std::remove_if(heap_.begin(), heap_.end(),
                             [this](const Entry& e) {
                               if (!stale(e)) return false;
                               free_slot(static_cast<uint32_t>(e.slot));
                               return true;
                             }),
              heap_.end());
  std::make_heap(heap_.begin(), heap_.end(), later());
}

bool TimeoutHeap::take(const Due& due, Task& out) {
  // The entry left the heap in pop_due; the slot is freed here either way
  // (removed since: not run).
  const bool run = meta_[due.slot] == (due.generation | kLive);
  if (run) {
    out = std::move(tasks_[due.slot]);
    tasks_[due.slot] = Task();
    --live_;
  }
  free_slot(due.slot);
  return run;
}

std::optional<TimeoutHeap::time_point> TimeoutHeap::next_deadline() {
  while (!heap_.empty() && stale(heap_.front())) {
    if (cancellations_ > 0) --cancellations_;
    uint32_t slot = static_cast<uint32_t>(heap_.front().slot);
    pop_top();
    free_slot(slot);
  }
  if (heap_.empty()) return std::nullopt;
  return time_point(time_point::duration(heap_.front().deadline));
}

void TimeoutHeap::clear() {
  heap_.clear();
  // Destroy the callables after the bookkeeping is consistent: a
  // destructor may call back into the loop.
  std::vector<Task> tasks = std::move(tasks_);
  tasks_.clear();
  meta_.clear();
  seq_of_.clear();
  free_.clear();
  cancellations_ = 0;
  live_ = 0;
}

}  // namespace tornado::ioloop_internal
