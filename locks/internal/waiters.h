// locks internals: the machinery shared by //locks and //queues. Not for
// users (the target's visibility says so); include "locks/locks.h" or
// "queues/queues.h".
//
//   - WaitCore: the part of a lock or queue that its waiters' futures may
//     outlive. It is the futures' cancel hook (future/internal/cancel.h)
//     and is intrusively reference-counted: by its owner (the Lock,
//     Queue, ...), by every future state naming it as hook, by every
//     timeout timer and by every Guard. A Lock destroyed while futures
//     still name its core leaves the core alive, "detached": nothing
//     dangles, and those futures stay pending (nobody can release them;
//     Tornado's waiters on a lock nobody holds a reference to do the same).
//   - WaiterList: the FIFO of pending waits. Nodes live in a slab (a
//     vector and a free list, reused), linked by index: a wait costs no
//     allocation beyond its future once the slab has grown to the peak
//     number of waiters, and a waiter that times out or is cancelled is
//     unlinked in O(1) (its node is named by the cancel hook's argument).
//     Each node holds a reference to its future's state, as Tornado's
//     deque holds its futures: a waiter whose handle the caller dropped is
//     still served (callbacks added to it still run).
//   - Wake: the callable of a waiter's timeout timer.
//
// Thread-compatible: a core and everything naming it belong to one
// IOLoop's thread (the thread that runs the coroutines using the lock).

#ifndef TORNADO_LOCKS_INTERNAL_WAITERS_H_
#define TORNADO_LOCKS_INTERNAL_WAITERS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "tornado/future/future.h"
#include "tornado/ioloop/internal/time.h"
#include "tornado/ioloop/ioloop.h"

namespace tornado::locks_internal {

using future_internal::FreeFn;
using future_internal::RefCount;
using Deadline = std::chrono::steady_clock::time_point;

// No deadline: a wait without timeout, or a timeout so large it saturates.
inline constexpr Deadline kNever = Deadline::max();

// The deadline of a wait given a duration (from now on the current loop's
// clock) or a time point. Saturating (ioloop/internal/time.h): a huge
// duration means never; a NaN one throws std::invalid_argument.
template <class Rep, class Period>
Deadline to_deadline(std::chrono::duration<Rep, Period> d) {
  return ioloop_internal::deadline_after(IOLoop::current().time(), d);
}
template <class Dur>
Deadline to_deadline(std::chrono::time_point<std::chrono::steady_clock, Dur> t) {
  return ioloop_internal::saturating_add(
      Deadline(), ioloop_internal::saturating_duration(t.time_since_epoch()));
}

// A node's index, generation and kind, packed into a cancel hook argument
// (slot: 32 bits; generation: 24; kind: 8). The kind tells the hook what
// type of future a state is (Future<void>, Future<Guard>, Future<T>),
// also after the node is gone (result_dropped).
inline constexpr uint32_t kNil = 0xffffffffu;
inline constexpr uint32_t kGenerationMask = 0xffffffu;
inline uintptr_t pack(uint32_t slot, uint32_t generation, uint8_t kind) {
  return (uintptr_t{slot} << 32) | (uintptr_t{generation & kGenerationMask} << 8) | kind;
}
inline uint32_t slot_of(uintptr_t arg) { return static_cast<uint32_t>(arg >> 32); }
inline uint32_t generation_of(uintptr_t arg) {
  return static_cast<uint32_t>(arg >> 8) & kGenerationMask;
}
inline uint8_t kind_of(uintptr_t arg) { return static_cast<uint8_t>(arg); }

// A reference to `f`'s state, held by a node (released by release_state).
template <class T>
RefCount* retain_state(const Future<T>& f) noexcept {
  return future_internal::Access::retain(f);
}
template <class T>
constexpr FreeFn free_fn() {
  return &future_internal::State<T>::free_state;
}
inline void release_state(RefCount* s, FreeFn free) noexcept {
  if (s != nullptr && s->unref(free)) free(s);
}

struct NoItem {};

// WaiterList
//
// See the file comment. `Item` is what a node carries besides its future
// (a queue's putter carries the item it puts); it need only be
// move-constructible.
template <class Item = NoItem>
class WaiterList {
 public:
  struct Node {
    RefCount* state = nullptr;  // a reference, while the node is linked
    FreeFn free = nullptr;
    uint32_t prev = kNil;
    uint32_t next = kNil;  // in the list, or in the free list
    uint32_t generation = 1;
    uint8_t kind = 0;
    bool linked = false;
    uint64_t seq = 0;        // order of arrival (notify_all, Event::set)
    IOLoop* loop = nullptr;  // the timer's loop, while a timer is set
    IOLoop::Timeout timer;
    std::optional<Item> item;
  };

  // What take() hands back: the state's reference, and the rest.
  struct Taken {
    RefCount* state;
    FreeFn free;
    uint8_t kind;
    std::optional<Item> item;
  };

  WaiterList() = default;
  WaiterList(const WaiterList&) = delete;
  WaiterList& operator=(const WaiterList&) = delete;

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  uint32_t front() const { return head_; }
  Node& operator[](uint32_t slot) { return nodes_[slot]; }
  const Node& operator[](uint32_t slot) const { return nodes_[slot]; }
  // The sequence number the next waiter will get.
  uint64_t next_seq() const { return next_seq_; }

  // Makes room for one more node, so that push_back cannot throw.
  void reserve_one() {
    if (free_ == kNil && nodes_.size() == nodes_.capacity()) {
      nodes_.reserve(nodes_.empty() ? 8 : nodes_.size() * 2);
    }
  }

  // Links a waiter at the back, holding `state` (a reference the caller
  // gives). Call reserve_one() first: then it does not throw.
  uint32_t push_back(RefCount* state, FreeFn free, uint8_t kind) {
    uint32_t slot;
    if (free_ != kNil) {
      slot = free_;
      free_ = nodes_[slot].next;
    } else {
      slot = static_cast<uint32_t>(nodes_.size());
      nodes_.emplace_back();
    }
    Node& n = nodes_[slot];
    n.state = state;
    n.free = free;
    n.kind = kind;
    n.linked = true;
    n.seq = next_seq_++;
    n.prev = tail_;
    n.next = kNil;
    if (tail_ != kNil) {
      nodes_[tail_].next = slot;
    } else {
      head_ = slot;
    }
    tail_ = slot;
    ++size_;
    return slot;
  }

  // The linked node `slot` of generation `generation` (24 bits), or null.
  Node* find(uint32_t slot, uint32_t generation) {
    if (slot >= nodes_.size()) return nullptr;
    Node& n = nodes_[slot];
    if (!n.linked || (n.generation & kGenerationMask) != generation) return nullptr;
    return &n;
  }

  // Unlinks `slot` and puts its node on the free list (a new generation),
  // removing its timer. The state's reference goes to the caller.
  Taken take(uint32_t slot) noexcept {
    Node& n = nodes_[slot];
    if (n.prev != kNil) {
      nodes_[n.prev].next = n.next;
    } else {
      head_ = n.next;
    }
    if (n.next != kNil) {
      nodes_[n.next].prev = n.prev;
    } else {
      tail_ = n.prev;
    }
    --size_;
    Taken t{n.state, n.free, n.kind, std::move(n.item)};
    n.item.reset();
    IOLoop* loop = n.loop;
    const IOLoop::Timeout timer = n.timer;
    n.state = nullptr;
    n.free = nullptr;
    n.linked = false;
    n.loop = nullptr;
    n.timer = IOLoop::Timeout();
    n.generation = (n.generation + 1) & kGenerationMask;
    if (n.generation == 0) n.generation = 1;
    n.prev = kNil;
    n.next = free_;
    free_ = slot;
    // Last: removing the timer destroys its callable, which looks the
    // node up and must find it gone.
    if (loop != nullptr) loop->remove_timeout(timer);
    return t;
  }

  // Calls `fn(slot)` for each linked node, front to back (`fn` must not
  // change the list).
  template <class F>
  void for_each(F&& fn) const {
    for (uint32_t s = head_; s != kNil; s = nodes_[s].next) fn(s);
  }

 private:
  std::vector<Node> nodes_;
  uint32_t head_ = kNil;
  uint32_t tail_ = kNil;
  uint32_t free_ = kNil;
  size_t size_ = 0;
  uint64_t next_seq_ = 0;
};

// WaitCore
//
// The reference-counted base of a lock's or queue's core, and the cancel
// hook of its waiters' futures (see the file comment). Subclasses
// implement cancel_requested and result_dropped.
class WaitCore : public future_internal::CancelHook {
 public:
  WaitCore() = default;
  WaitCore(const WaitCore&) = delete;
  WaitCore& operator=(const WaitCore&) = delete;

  void ref() noexcept { ++refs_; }
  void unref() noexcept {
    if (--refs_ == 0) delete this;
  }
  // A state stopped naming this hook.
  void hook_released(uintptr_t) noexcept override { unref(); }

  // False once the owner (Lock, Queue, ...) is destroyed.
  bool alive() const { return alive_; }

  // Installs this core as `f`'s cancel hook with `arg` (a reference).
  template <class T>
  void install_hook(Future<T>& f, uintptr_t arg) noexcept {
    ref();
    future_internal::Access::set_cancel_hook(f, this, arg);
  }

  // A node's timer fired (`arg` names the node), or its callable is being
  // destroyed without firing (`fired` false: the loop closed).
  virtual void on_timeout(uintptr_t arg) noexcept = 0;
  virtual void on_timer_dropped(uintptr_t arg) noexcept = 0;

  // Keeps a core alive across calls that run callbacks (which may destroy
  // the owner, and so drop the owner's reference).
  class Pin {
   public:
    explicit Pin(WaitCore* c) noexcept : c_(c) { c_->ref(); }
    ~Pin() { c_->unref(); }
    Pin(const Pin&) = delete;
    Pin& operator=(const Pin&) = delete;

   private:
    WaitCore* c_;
  };

 protected:
  virtual ~WaitCore() = default;
  void mark_detached() { alive_ = false; }

 private:
  int64_t refs_ = 1;  // the owner's
  bool alive_ = true;
};

// Wake
//
// The callable of a waiter's timeout: holds a reference to the core and
// names the node. When it fires it times the waiter out; destroyed
// without firing (the loop closed) it tells the core, so the node no
// longer points at the loop.
class Wake {
 public:
  Wake(WaitCore* core, uintptr_t arg) noexcept : core_(core), arg_(arg) { core_->ref(); }
  Wake(Wake&& o) noexcept : core_(std::exchange(o.core_, nullptr)), arg_(o.arg_), fired_(o.fired_) {}
  Wake& operator=(Wake&&) = delete;
  ~Wake() {
    if (core_ == nullptr) return;
    if (!fired_) core_->on_timer_dropped(arg_);
    core_->unref();
  }
  void operator()() {
    fired_ = true;
    core_->on_timeout(arg_);
  }

 private:
  WaitCore* core_;
  uintptr_t arg_;
  bool fired_ = false;
};

// Arms the timeout of node `slot` of `list` (linked just now, named by
// `arg`) on the current loop, unless `deadline` is never. May throw (a
// closed loop, out of memory): the caller then withdraws the node.
template <class Item>
void arm_timer(WaitCore* core, WaiterList<Item>& list, uint32_t slot, uintptr_t arg,
               Deadline deadline) {
  if (deadline == kNever) return;
  IOLoop& loop = IOLoop::current();
  IOLoop::Timeout t = loop.call_at(deadline, Wake(core, arg));
  auto& n = list[slot];
  n.loop = &loop;
  n.timer = t;
}

// The node named by `arg` in `list` no longer has a timer (its callable
// was destroyed by a closing loop).
template <class Item>
void forget_timer(WaiterList<Item>& list, uintptr_t arg) noexcept {
  if (auto* n = list.find(slot_of(arg), generation_of(arg))) {
    n->loop = nullptr;
    n->timer = IOLoop::Timeout();
  }
}

// A typed handle to a state whose reference a node held (the node's
// reference is dropped: the handle owns one of its own).
template <class T>
Future<T> adopt(RefCount* s, FreeFn free) noexcept {
  Future<T> f = future_internal::Access::from_state<T>(s);
  release_state(s, free);
  return f;
}

struct NoInit {
  template <class Node>
  void operator()(Node&) const noexcept {}
};

// Adds a waiter future of kind `kind` to `list`, with this core as its
// cancel hook and a timer for `deadline`; `init(node)` fills the rest of
// the node (a putter's item) first. Strong guarantee.
template <class T, class Item, class Init = NoInit>
uint32_t enqueue(WaitCore* core, WaiterList<Item>& list, Future<T>& f, uint8_t kind,
                 Deadline deadline, Init init = {}) {
  list.reserve_one();
  const uint32_t slot = list.push_back(retain_state(f), free_fn<T>(), kind);
  const uintptr_t arg = pack(slot, list[slot].generation, kind);
  core->install_hook(f, arg);
  try {
    init(list[slot]);
    arm_timer(core, list, slot, arg, deadline);
  } catch (...) {
    auto t = list.take(slot);
    future_internal::Access::clear_cancel_hook(f);
    release_state(t.state, t.free);
    throw;
  }
  return slot;
}

// cancel() on the pending waiter `state`, named by `arg`, of `list`:
// unlinks its node and removes its timer at once. Returns false, so that
// cancel() completes the future with CancelledError.
template <class Item>
bool withdraw(WaitCore& core, WaiterList<Item>& list, RefCount* state, uintptr_t arg) noexcept {
  if (!core.alive()) return false;
  auto* n = list.find(slot_of(arg), generation_of(arg));
  if (n == nullptr || n->state != state) return false;
  auto t = list.take(slot_of(arg));
  release_state(t.state, t.free);  // cancel() holds a handle of its own
  return false;
}

// The owner is gone: drops every waiter and its timer (the futures stay
// pending).
template <class Item>
void drop_all(WaiterList<Item>& list) noexcept {
  while (!list.empty()) {
    auto t = list.take(list.front());
    release_state(t.state, t.free);
  }
}

// The exception a timed-out wait fails with.
std::exception_ptr make_timeout_error();

}  // namespace tornado::locks_internal

#endif  // TORNADO_LOCKS_INTERNAL_WAITERS_H_
