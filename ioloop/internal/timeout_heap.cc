#include "ioloop/internal/timeout_heap.h"

#include <algorithm>

namespace tornado::ioloop_internal {

TimeoutHeap::Handle TimeoutHeap::add(time_point deadline, Task task) {
  uint32_t i;
  if (!free_.empty()) {
    i = free_.back();
    free_.pop_back();
  } else {
    i = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[i];
  s.task = std::move(task);
  s.live = true;
  ++live_;
  heap_.push_back({deadline.time_since_epoch().count(), seq_++, i, s.generation});
  std::push_heap(heap_.begin(), heap_.end(), Later());
  return {this, i, s.generation};
}

void TimeoutHeap::free_slot(uint32_t i) {
  Slot& s = slots_[i];
  s.live = false;
  ++s.generation;
  if (s.generation == 0) s.generation = 1;  // 0 stays "never valid"
  --live_;
  free_.push_back(i);
}

bool TimeoutHeap::remove(const Handle& h) {
  if (h.owner != this || h.generation == 0 || h.slot >= slots_.size()) {
    return false;
  }
  Slot& s = slots_[h.slot];
  if (!s.live || s.generation != h.generation) return false;
  Task released = std::move(s.task);  // released at once, not at its deadline
  s.task = Task();
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
  Slot& s = slots_[due.slot];
  if (!s.live || s.generation != due.generation) return false;
  out = std::move(s.task);
  s.task = Task();
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
  std::vector<Slot> slots = std::move(slots_);
  slots_.clear();
  free_.clear();
  cancellations_ = 0;
  live_ = 0;
}

}  // namespace tornado::ioloop_internal
