#include "ioloop/internal/timeout_heap.h"

#include <algorithm>

namespace tornado::ioloop_internal {

TimeoutHeap::Handle TimeoutHeap::add(time_point deadline, Task task) {
  uint32_t i;
  if (!free_.empty()) {
    i = free_.back();
    free_.pop_back();
  } else {
    i = static_cast<uint32_t>(tasks_.size());
    tasks_.emplace_back();
    meta_.push_back(1);
  }
  tasks_[i] = std::move(task);
  const uint32_t generation = meta_[i];
  meta_[i] = generation | kLive;
  ++live_;
  heap_.push_back({deadline.time_since_epoch().count(), seq_++, i, generation});
  std::push_heap(heap_.begin(), heap_.end(), Later());
  return {this, i, generation};
}

void TimeoutHeap::free_slot(uint32_t i) {
  uint32_t generation = (meta_[i] & ~kLive) + 1;
  if (generation == kLive) generation = 1;  // wrap; 0 stays "never valid"
  meta_[i] = generation;
  --live_;
  free_.push_back(i);
}

bool TimeoutHeap::remove(const Handle& h) {
  if (h.owner != this || h.generation == 0 || h.slot >= meta_.size()) {
    return false;
  }
  if (meta_[h.slot] != (h.generation | kLive)) return false;
  Task released = std::move(tasks_[h.slot]);  // released now, not at its deadline
  tasks_[h.slot] = Task();
  free_slot(h.slot);
  ++cancellations_;
  return true;
}

void TimeoutHeap::pop_top() {
  std::pop_heap(heap_.begin(), heap_.end(), Later());
  heap_.pop_back();
}

void TimeoutHeap::pop_due(time_point now, std::vector<Due>& out) {
  const int64_t now_ticks = now.time_since_epoch().count();
  while (!heap_.empty()) {
    const Entry& top = heap_.front();
    if (stale(top)) {
      if (cancellations_ > 0) --cancellations_;
      pop_top();
    } else if (top.deadline <= now_ticks) {
      out.push_back({top.slot, top.generation});
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
                             [this](const Entry& e) { return stale(e); }),
              heap_.end());
  std::make_heap(heap_.begin(), heap_.end(), Later());
}

bool TimeoutHeap::take(const Due& due, Task& out) {
  if (meta_[due.slot] != (due.generation | kLive)) return false;
  out = std::move(tasks_[due.slot]);
  tasks_[due.slot] = Task();
  free_slot(due.slot);
  return true;
}

std::optional<TimeoutHeap::time_point> TimeoutHeap::next_deadline() {
  while (!heap_.empty() && stale(heap_.front())) {
    if (cancellations_ > 0) --cancellations_;
    pop_top();
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
  free_.clear();
  cancellations_ = 0;
  live_ = 0;
}

}  // namespace tornado::ioloop_internal
