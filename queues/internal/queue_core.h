// queues internals: the three item stores (FIFO, LIFO, priority) and the
// core of a queue (its items, getters, putters and task count), which the
// waiters' futures may outlive (see locks/internal/waiters.h). Not for
// users; include "queues/queues.h".
//
// Thread-compatible: one IOLoop's thread.

#ifndef TORNADO_QUEUES_INTERNAL_QUEUE_CORE_H_
#define TORNADO_QUEUES_INTERNAL_QUEUE_CORE_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tornado/future/future.h"
#include "tornado/locks/internal/waiters.h"
#include "tornado/locks/locks.h"
#include "tornado/logging/logging.h"

namespace tornado::queues {

// QueueEmpty
//
// get_nowait() on a queue with no item (Tornado's `QueueEmpty`).
class QueueEmpty : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// QueueFull
//
// put_nowait() on a queue at its maxsize (Tornado's `QueueFull`).
class QueueFull : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace queues_internal {

// The stores: push (put), pop (get), and push_head (an item given back by
// a getter cancelled before it resumed: it is the next one out). `T` need
// only be move-constructible.

template <class T>
class FifoStore {
 public:
  size_t size() const { return items_.size(); }
  void clear() { items_.clear(); }
  void push(T&& item) { items_.push_back(std::move(item)); }
  void push_head(T&& item) { items_.push_front(std::move(item)); }
  T pop() {
    T out(std::move(items_.front()));
    items_.pop_front();
    return out;
  }

 private:
  std::deque<T> items_;
};

template <class T>
class LifoStore {
 public:
  size_t size() const { return items_.size(); }
  void clear() { items_.clear(); }
  void push(T&& item) { items_.push_back(std::move(item)); }
  void push_head(T&& item) { items_.push_back(std::move(item)); }
  T pop() {
    T out(std::move(items_.back()));
    items_.pop_back();
    return out;
  }

 private:
  std::vector<T> items_;
};

// A binary heap of slot indices over a slab of items: the heap moves
// integers, so items need no move assignment (std::push_heap on the
// items themselves would).
template <class T, class Compare>
class PriorityStore {
 public:
  explicit PriorityStore(Compare comp = Compare()) : comp_(std::move(comp)) {}
  size_t size() const { return heap_.size(); }
  void clear() {
    heap_.clear();
    slots_.clear();
    free_.clear();
  }
  void push(T&& item) {
    // Room first, so that nothing below can fail half-way.
    if (heap_.size() == heap_.capacity()) heap_.reserve(heap_.capacity() * 2 + 8);
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      slots_[slot].emplace(std::move(item));
      free_.pop_back();
    } else {
      if (free_.capacity() < slots_.size() + 1) free_.reserve(slots_.capacity() * 2 + 8);
      slots_.emplace_back(std::in_place, std::move(item));
      slot = static_cast<uint32_t>(slots_.size() - 1);
    }
    heap_.push_back(slot);
    std::push_heap(heap_.begin(), heap_.end(), later());
  }
  void push_head(T&& item) { push(std::move(item)); }
  T pop() {
    std::pop_heap(heap_.begin(), heap_.end(), later());
    const uint32_t slot = heap_.back();
    heap_.pop_back();
    T out(std::move(*slots_[slot]));
    slots_[slot].reset();
    free_.push_back(slot);  // capacity reserved in push
    return out;
  }

 private:
  // std::*_heap keep the greatest first; we want the least under comp_.
  auto later() {
    return [this](uint32_t a, uint32_t b) { return comp_(*slots_[b], *slots_[a]); };
  }

  Compare comp_;
  std::vector<std::optional<T>> slots_;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> heap_;
};

// QueueCore
//
// See the file comment. Tornado's invariants hold: getters wait only while
// the queue is empty, putters only while it is full (or, after an item was
// given back, fuller).
template <class T, class Store>
class QueueCore final : public locks_internal::WaitCore {
  using Access = future_internal::Access;
  using Deadline = locks_internal::Deadline;

 public:
  static constexpr uint8_t kGet = 0;  // Future<T>, in getters_
  static constexpr uint8_t kPut = 1;  // Future<void>, in putters_ (with the item)

  QueueCore(int maxsize, Store store) : store_(std::move(store)), maxsize_(maxsize) {
    finished_.set();
  }

  size_t qsize() const { return store_.size(); }
  bool full() const { return maxsize_ > 0 && store_.size() >= static_cast<size_t>(maxsize_); }
  int maxsize() const { return maxsize_; }
  size_t getters() const { return getters_.size(); }
  size_t putters() const { return putters_.size(); }

  Future<void> put(T&& item, Deadline deadline) {
    if (!getters_.empty() || !full()) {
      Future<void> done;  // first: if it cannot be made, nothing happened
      put_nowait(std::move(item));
      done.set_result();
      return done;
    }
    Future<void> f;
    locks_internal::enqueue(this, putters_, f, kPut, deadline,
                            [&](auto& node) { node.item.emplace(std::move(item)); });
    return f;
  }

  void put_nowait(T&& item) {
    if (!getters_.empty()) {
      // The queue is empty: the item goes straight to the first getter
      // (Tornado puts it, then gets it for the getter).
      Pin pin(this);
      auto t = getters_.take(getters_.front());
      Future<T> f = locks_internal::adopt<T>(t.state, t.free);
      count_new_task();
      // The hook stays: result_dropped puts the item back if the getter's
      // coroutine is cancelled before it resumes.
      f.set_result(std::move(item));
      return;
    }
    if (full()) throw QueueFull("Queue::put_nowait: the queue is full");
    store_.push(std::move(item));
    count_new_task();
  }

  Future<T> get(Deadline deadline) {
    Future<T> f;
    if (!putters_.empty() || store_.size() > 0) {
      f.set_result(get_nowait());
      return f;
    }
    locks_internal::enqueue(this, getters_, f, kGet, deadline);
    return f;
  }

  T get_nowait() {
    if (!putters_.empty()) {
      // The queue is full: the first putter's item goes in, then one comes
      // out; the putter's future completes once the queue is consistent.
      Pin pin(this);
      auto t = putters_.take(putters_.front());
      Future<void> f = locks_internal::adopt<void>(t.state, t.free);
      Access::clear_cancel_hook(f);  // a put done is done: nothing to give back
      store_.push(std::move(*t.item));
      count_new_task();
      T out = store_.pop();
      f.set_result();
      return out;
    }
    if (store_.size() == 0) throw QueueEmpty("Queue::get_nowait: the queue is empty");
    return store_.pop();
  }

  void task_done() {
    if (unfinished_ <= 0) throw std::logic_error("Queue::task_done: called too many times");
    if (--unfinished_ == 0) {
      Pin pin(this);
      finished_.set();
    }
  }

  Future<void> join(Deadline deadline) { return finished_.wait(deadline); }

  void detach() {
    Pin pin(this);
    mark_detached();
    locks_internal::drop_all(getters_);
    locks_internal::drop_all(putters_);
    store_.clear();  // unreachable now; the core may live on (futures name it)
    unref();
  }

  bool cancel_requested(future_internal::RefCount* state, uintptr_t arg) noexcept override {
    if (locks_internal::kind_of(arg) == kGet) {
      return locks_internal::withdraw(*this, getters_, state, arg);
    }
    return locks_internal::withdraw(*this, putters_, state, arg);  // its item goes too
  }

  // A getter granted an item and cancelled before it resumed: the item
  // goes back, to the next getter or to the head of the queue (it stays
  // counted by join()). Putting it back may make the queue hold maxsize+1
  // items until the next get: the item is never dropped.
  void result_dropped(future_internal::RefCount* state, uintptr_t arg) noexcept override {
    if (locks_internal::kind_of(arg) != kGet || !alive()) return;
    Pin pin(this);
    try {
      T item = Access::take_value<T>(state);
      if (!getters_.empty()) {
        auto t = getters_.take(getters_.front());
        locks_internal::adopt<T>(t.state, t.free).set_result(std::move(item));
      } else {
        store_.push_head(std::move(item));
      }
    } catch (...) {
      logging::error("Queue: an item given back by a cancelled getter was lost: " +
                     logging::describe(std::current_exception()));
    }
  }

  void on_timeout(uintptr_t arg) noexcept override {
    try {
      if (locks_internal::kind_of(arg) == kGet) {
        time_out<T>(getters_, arg);
      } else {
        time_out<void>(putters_, arg);  // its item was never put
      }
    } catch (...) {
      logging::error("Queue: timing out a waiter: " +
                     logging::describe(std::current_exception()));
    }
  }
  void on_timer_dropped(uintptr_t arg) noexcept override {
    if (locks_internal::kind_of(arg) == kGet) {
      locks_internal::forget_timer(getters_, arg);
    } else {
      locks_internal::forget_timer(putters_, arg);
    }
  }

 private:
  void count_new_task() {
    ++unfinished_;
    finished_.clear();
  }

  template <class U, class Item>
  void time_out(locks_internal::WaiterList<Item>& list, uintptr_t arg) {
    if (list.find(locks_internal::slot_of(arg), locks_internal::generation_of(arg)) == nullptr) {
      return;
    }
    Pin pin(this);
    auto t = list.take(locks_internal::slot_of(arg));
    Future<U> f = locks_internal::adopt<U>(t.state, t.free);
    f.set_exception(locks_internal::make_timeout_error());
  }

  Store store_;
  const int maxsize_;
  int64_t unfinished_ = 0;
  locks::Event finished_;
  locks_internal::WaiterList<> getters_;
  locks_internal::WaiterList<T> putters_;
};

}  // namespace queues_internal
}  // namespace tornado::queues

#endif  // TORNADO_QUEUES_INTERNAL_QUEUE_CORE_H_
