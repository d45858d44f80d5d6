// gen internals: ChildSet, the children a multi() or a TaskGroup can
// cancel without owning them. Not for users.
//
// Owning the children would make a cycle (a child's done-callback owns the
// set), which leaks when a child never completes. Instead each child is
// named by its state's address and a function that cancels it, and the
// child's done-callback (a `ChildWatch`) clears the name when it goes:
// when it runs (the child is done) or when the child's state is freed with
// the callback unrun. So a name in the set always denotes a live state.
// Adding and forgetting are O(1) (a slot vector with a free list).
//
// Thread-compatible: the loop's thread.

#ifndef TORNADO_GEN_INTERNAL_CHILD_SET_H_
#define TORNADO_GEN_INTERNAL_CHILD_SET_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "tornado/future/future.h"

namespace tornado::gen::gen_internal {

class ChildSet {
 public:
  template <class T>
  size_t add(const Future<T>& child) {
    Slot s{future_internal::Access::state_id(child), &cancel_state<T>};
    if (!free_.empty()) {
      const size_t i = free_.back();
      free_.pop_back();
      slots_[i] = s;
      ++live_;
      return i;
    }
    slots_.push_back(s);
    ++live_;
    return slots_.size() - 1;
  }
  void forget(size_t i) noexcept {
    if (i >= slots_.size() || slots_[i].state == nullptr) return;
    slots_[i] = Slot{};
    --live_;
    try {
      free_.push_back(i);
    } catch (...) {
      // The slot is not reused: a few bytes lost, nothing unsound.
    }
  }
  // Cancels every child still named. A plain child completes at once and
  // its callback forgets it meanwhile; slots added meanwhile are cancelled
  // too. Returns how many cancel() calls accepted.
  size_t cancel_all() {
    size_t accepted = 0;
    for (size_t i = 0; i < slots_.size(); ++i) {
      const Slot s = slots_[i];
      if (s.state != nullptr && s.cancel(s.state)) ++accepted;
    }
    return accepted;
  }
  size_t live() const { return live_; }

 private:
  struct Slot {
    const void* state = nullptr;
    bool (*cancel)(const void*) = nullptr;
  };
  template <class T>
  static bool cancel_state(const void* state) {
    return future_internal::Access::from_state_id<T>(state).cancel();
  }
  std::vector<Slot> slots_;
  std::vector<size_t> free_;
  size_t live_ = 0;
};

// The done-callback base of a child watched through a ChildSet owned by
// `Owner` (Owner::children() gives the set): forgets the child when the
// callback is destroyed, run or not. Move-only.
template <class Owner>
class ChildWatch {
 public:
  ChildWatch(std::shared_ptr<Owner> owner, size_t slot)
      : owner_(std::move(owner)), slot_(slot) {}
  ChildWatch(ChildWatch&& o) noexcept = default;
  ChildWatch& operator=(ChildWatch&&) = delete;
  ~ChildWatch() {
    if (owner_) owner_->children().forget(slot_);
  }

 protected:
  std::shared_ptr<Owner> owner_;
  size_t slot_;
};

}  // namespace tornado::gen::gen_internal

#endif  // TORNADO_GEN_INTERNAL_CHILD_SET_H_
