// future internals: future_internal::Access, what the libraries above
// (//ioloop, //gen, //net) may do with a Future that users may not: a
// done-callback that can be withdrawn (a destroyed coroutine frame leaves
// nothing pointing at it), and the diagnostic fields (producer, awaiter,
// label). Included at the end of future.h; do not include it directly.
//
// Thread-compatible, like the result of a Future.

#ifndef TORNADO_FUTURE_INTERNAL_ACCESS_H_
#define TORNADO_FUTURE_INTERNAL_ACCESS_H_

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace tornado {

namespace future_internal {

// For the coroutine machinery (//gen): a done-callback that can be
// withdrawn while the future is pending, so a coroutine frame destroyed
// while suspended leaves nothing pointing at it.
struct Access {
  static constexpr size_t kNoToken = static_cast<size_t>(-1);

  // Like add_done_callback (runs `fn` at once if `f` is done, returning
  // kNoToken).
  template <class T, class F>
  static size_t add_cancellable_callback(Future<T>& f, F fn) {
    auto* s = f.checked("Future::add_done_callback");
    if (s->done) {
      f.run_callback(fn);
      return kNoToken;
    }
    s->callbacks.emplace_back(std::move(fn));
    return s->callbacks.size() - 1;
  }
  // Diagnostics: an identity for the shared state, and the producer and
  // label fields described in State.
  template <class T>
  static const void* state_id(const Future<T>& f) {
    return f.state_;
  }
  template <class T>
  static void* producer(const Future<T>& f) {
    return f.state_ ? f.state_->producer : nullptr;
  }
  template <class T>
  static void set_producer(Future<T>& f, void* p) {
    if (f.state_) f.state_->producer = p;
  }
  template <class T>
  static void* awaiter(const Future<T>& f) {
    return f.state_ ? f.state_->awaiter : nullptr;
  }
  template <class T>
  static void set_awaiter(Future<T>& f, void* a) {
    if (f.state_) f.state_->awaiter = a;
  }
  // The address of the awaiter field, valid while `f`'s state lives.
  template <class T>
  static void* const* awaiter_slot(const Future<T>& f) {
    return f.state_ ? &f.state_->awaiter : nullptr;
  }
  template <class T>
  static const char* label(const Future<T>& f) {
    return f.state_ ? f.state_->label : nullptr;
  }
  template <class T>
  static void set_label(Future<T>& f, const char* l) {
    if (f.state_) f.state_->label = l;
  }

  // ---- Cancellation (see internal/cancel.h) ----
  // Installs `hook` (with `arg`) on `f`'s state, replacing (and releasing)
  // any other; null clears it.
  template <class T>
  static void set_cancel_hook(Future<T>& f, CancelHook* hook, uintptr_t arg) noexcept {
    auto* s = f.state_;
    if (s == nullptr) return;
    CancelHook* old = s->cancel_hook;
    const uintptr_t old_arg = s->cancel_arg;
    s->cancel_hook = hook;
    s->cancel_arg = arg;
    if (old != nullptr) old->hook_released(old_arg);
  }
  template <class T>
  static void clear_cancel_hook(Future<T>& f) noexcept {
    set_cancel_hook(f, nullptr, 0);
  }
  template <class T>
  static CancelHook* cancel_hook(const Future<T>& f) noexcept {
    return f.state_ ? f.state_->cancel_hook : nullptr;
  }
  // A handle to the state named by state_id().
  template <class T>
  static Future<T> from_state_id(const void* id) noexcept {
    return Future<T>(static_cast<State<T>*>(const_cast<void*>(id)));
  }
  // A counted reference to `f`'s state held without a Future handle (a
  // lock's waiter node keeps its future alive, as Tornado's deque of
  // futures does); give it back with release_ref<T>.
  template <class T>
  static RefCount* retain(const Future<T>& f) noexcept {
    if (f.state_ == nullptr) return nullptr;
    f.state_->ref();
    return f.state_;
  }
  template <class T>
  static void release_ref(RefCount* s) noexcept {
    if (s != nullptr && s->unref(&State<T>::free_state)) State<T>::free_state(s);
  }
  // A handle to the state a hook was given.
  template <class T>
  static Future<T> from_state(RefCount* s) noexcept {
    return Future<T>(static_cast<State<T>*>(s));
  }
  // The value of a done, successful state a hook was given (for
  // result_dropped: a queue takes its item back).
  template <class T>
  static T take_value(RefCount* s) {
    auto* st = static_cast<State<T>*>(s);
    st->taken = true;
    return std::move(*st->value);
  }
  // A cancelled coroutine drops `f`'s successful result: tells the hook.
  template <class T>
  static void result_dropped(Future<T>& f) noexcept {
    auto* s = f.state_;
    if (s == nullptr || !s->done || s->exception || s->cancel_hook == nullptr) return;
    if constexpr (!std::is_void_v<T>) {
      if (s->taken) return;
    }
    CancelHook* hook = s->cancel_hook;
    const uintptr_t arg = s->cancel_arg;
    s->cancel_hook = nullptr;  // at most once
    Future<T> keep(s);
    hook->result_dropped(s, arg);
    hook->hook_released(arg);
  }
  // Completes the pending `f` with a new CancelledError, running its
  // callbacks (what cancel() does for a plain future).
  template <class T>
  static void complete_cancelled(Future<T>& f) {
    f.complete_cancelled(f.checked_pending("Future::cancel"));
  }

  template <class T>
  static void cancel_callback(Future<T>& f, size_t token) noexcept {
    auto* s = f.state_;
    if (s != nullptr && !s->done && token < s->callbacks.size()) {
      s->callbacks[token] = nullptr;
    }
  }
};

}  // namespace future_internal

}  // namespace tornado

#endif  // TORNADO_FUTURE_INTERNAL_ACCESS_H_
