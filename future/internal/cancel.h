// future internals: the cancellation hook of a Future's state, what
// `Future::cancel()` asks before it completes a pending future with
// `CancelledError`. Not for users; the libraries above (//gen's Runner,
// gen::sleep, //net's reads, //locks, //queues) install one through
// future_internal::Access. Included by future.h; do not include it
// directly.
//
// Ownership: a state names its hook with a raw pointer and an argument.
// Whoever installs a hook keeps it alive while it is installed and the
// future is pending, or clears it (Access::clear_cancel_hook) before it
// goes: a coroutine's Runner clears it when its frame is destroyed, a
// sleep's timer when the loop drops it. A hook that must outlive its
// creator (a lock's waiter list, whose futures may outlive the lock) is
// kept alive by the states naming it: `hook_released` tells it when one no
// longer does.
//
// Thread-compatible, like the result of a Future: the loop's thread.

#ifndef TORNADO_FUTURE_INTERNAL_CANCEL_H_
#define TORNADO_FUTURE_INTERNAL_CANCEL_H_

#include <cstdint>

namespace tornado::future_internal {

struct RefCount;

class CancelHook {
 public:
  // `Future::cancel()` was called on the pending future `state` (a
  // State<T>, whose type the hook knows) naming this hook with `arg`.
  // Return true when the hook takes it from here: the future is now done,
  // or will complete later (a coroutine asked to stop completes as its
  // body does). Return false when the producer has withdrawn (a timer
  // removed, a waiter unlinked): cancel() then completes the future with
  // CancelledError and runs its callbacks.
  virtual bool cancel_requested(RefCount* state, uintptr_t arg) noexcept = 0;

  // A coroutine cancelled after `state` had completed successfully threw
  // CancelledError at its co_await instead of taking the result: give back
  // what the result granted (a lock's unit, a queue's item). Called at most
  // once per state, on the loop's thread.
  virtual void result_dropped(RefCount* state, uintptr_t arg) noexcept {
    static_cast<void>(state);
    static_cast<void>(arg);
  }

  // `state` no longer names this hook (it is being freed, or the hook was
  // replaced or cleared). For hooks kept alive by the states naming them.
  virtual void hook_released(uintptr_t arg) noexcept { static_cast<void>(arg); }

 protected:
  ~CancelHook() = default;
};

}  // namespace tornado::future_internal

#endif  // TORNADO_FUTURE_INTERNAL_CANCEL_H_
