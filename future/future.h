// -----------------------------------------------------------------------------
// future.h
// -----------------------------------------------------------------------------
//
// `Future<T>`: the proxy of one asynchronous call (Tornado 4.5's
// `tornado.concurrent.Future`). It is created with the call, completed
// once with a value or an exception, and on completion runs every
// done-callback, inline and in the order they were added; one of them is
// usually a coroutine's Runner.
//
//   tornado::Future<int> f;
//   f.add_done_callback([](tornado::Future<int> f) { use(f.result()); });
//   f.set_result(5);                       // runs the callback now
//
// A `Future` is a cheap handle (one pointer) to shared state; copies refer
// to the same result. A default-constructed future is pending.
//
// Errors: completing twice, or reading a pending future, throws
// `InvalidStateError`. A done-callback that throws does not stop the
// others: its exception is logged through //logging ("Exception in
// done-callback of a Future: ..."). A future that failed and whose
// exception nobody retrieved (`result()`, `take_result()`, `exception()`)
// logs "Future exception was never retrieved: ..." when its last handle
// goes away, as Tornado and asyncio do.
//
// Thread-safety: handles are thread-safe, results are not. Copying,
// moving and destroying `Future` handles is safe on any thread, even for
// handles of one future on several threads at once, as with
// std::shared_ptr; so a worker thread may hold a copy of a loop's future
// and hand it back with
//   loop.add_callback([f]() mutable { f.set_result(v); });
// Everything else (set_result, set_exception, result, take_result,
// exception, add_done_callback, done) is thread-compatible: a future's
// result and callbacks belong to one thread at a time, normally its
// IOLoop's, and other threads complete it through `IOLoop::add_callback`
// as above.
//
// The reference count is biased (see internal/refcount.h): a future created
// on a thread while an IOLoop runs there counts that thread's copies and
// releases with plain integer operations, no atomic read-modify-write; other
// threads use atomic ones, and a state whose last handle is released away
// from its thread is freed by that thread's loop at its next iteration (or
// `close`, or the thread's exit; a thread that has stopped running loops
// keeps such states until one of these). Futures created elsewhere (worker
// threads, before a loop starts) count atomically everywhere.
//
// Cost: one allocation for the shared state, which also holds the first
// done-callback inline when its captures fit in 16 bytes. Copying or
// destroying a handle, on the loop thread that created the future: a
// thread-local read, a compare and an integer increment or decrement.
// Elsewhere, and for futures created outside a loop: one atomic
// read-modify-write (none for the last handle of a future counted
// atomically); at most once per future, a release on another thread also
// hands it to the loop thread's queue, under a mutex.

#ifndef TORNADO_FUTURE_FUTURE_H_
#define TORNADO_FUTURE_FUTURE_H_

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/functional/any_invocable.h"
#include "tornado/future/internal/cancel.h"
#include "tornado/future/internal/refcount.h"

namespace tornado {

// InvalidStateError
//
// A future was used in a state that does not allow it: completed twice,
// read while pending, or its result taken twice.
class InvalidStateError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// CancelledError
//
// The outcome of a cancelled future, and what a cancelled coroutine's
// `co_await` throws. Derived from std::exception only, so that
// `catch (const std::runtime_error&)` (ordinary error handling) does not
// swallow a cancellation; catch it by name to handle one. `final`: a
// future is cancelled exactly when its exception is a CancelledError,
// which `Future::cancelled()` tells by the exception's type alone.
class CancelledError final : public std::exception {
 public:
  CancelledError() noexcept = default;
  const char* what() const noexcept override { return "CancelledError"; }
};

template <class T>
class Future;

// is_future<T> / FutureType: true for `Future<U>` (any cv-ref).
template <class T>
struct is_future : std::false_type {};
template <class T>
struct is_future<Future<T>> : std::true_type {};
template <class T>
inline constexpr bool is_future_v = is_future<std::remove_cvref_t<T>>::value;
template <class T>
concept FutureType = is_future_v<T>;

namespace future_internal {

[[noreturn]] void throw_invalid_state(const char* what);
void report_never_retrieved(const std::exception_ptr& e) noexcept;
void report_callback_exception(const std::exception_ptr& e) noexcept;
// True when `e` holds a CancelledError (null: false).
bool is_cancelled_error(const std::exception_ptr& e) noexcept;
// A new CancelledError.
std::exception_ptr make_cancelled_error();

struct Empty {};

// RefCount first: the flags below fill its tail padding.
template <class T>
struct State final : RefCount {
  using Callback = absl::AnyInvocable<void(Future<T>)>;
  using Value = std::conditional_t<std::is_void_v<T>, Empty, std::optional<T>>;

  bool done = false;
  bool retrieved = false;  // the exception was observed
  bool taken = false;      // take_result() moved the value out
  std::exception_ptr exception;
  Value value{};
  absl::InlinedVector<Callback, 1> callbacks;
  // For diagnostics (//gen's coroutine dump) and lifetimes: who will
  // complete this future (a coroutine's Runner, as an
  // ioloop_internal::Suspended*), which coroutine awaits it (cleared by
  // that coroutine when it stops awaiting), or what it is ("sleep").
  void* producer = nullptr;
  void* awaiter = nullptr;
  const char* label = nullptr;
  // What cancel() asks before completing the future (see
  // internal/cancel.h); null for a plain future.
  CancelHook* cancel_hook = nullptr;
  uintptr_t cancel_arg = 0;

  ~State() {
    if (cancel_hook != nullptr) cancel_hook->hook_released(cancel_arg);
    // A cancelled future is never reported: nobody has to look at it.
    if (exception && !retrieved && !is_cancelled_error(exception)) {
      report_never_retrieved(exception);
    }
  }

  // Out of line: keeps the handles' release small enough to inline.
  [[gnu::noinline]] static void free_state(RefCount* s) noexcept {
    delete static_cast<State*>(s);
  }
};

struct Access;

}  // namespace future_internal

// Future<T>
//
// See the file comment. `T` may be `void` and may be move-only.
// [[nodiscard]]: a future dropped on the floor (a coroutine called and
// forgotten) is usually a bug: `co_await` it, keep it, or start the work
// with `IOLoop::spawn_callback`; `static_cast<void>(f)` says "on purpose".
template <class T>
class [[nodiscard]] Future {
  using State = future_internal::State<T>;

 public:
  using value_type = T;

  // A pending future.
  Future() : state_(new State) {}

  Future(const Future& o) noexcept : state_(o.state_) {
    if (state_) state_->ref();
  }
  Future(Future&& o) noexcept : state_(std::exchange(o.state_, nullptr)) {}
  Future& operator=(const Future& o) noexcept {
    Future(o).swap(*this);
    return *this;
  }
  Future& operator=(Future&& o) noexcept {
    Future(std::move(o)).swap(*this);
    return *this;
  }
  // Forced inline when optimizing (GCC otherwise outlines it in coroutine
  // bodies, a measurable cost on W2); not at -O0, where forced inlining
  // only grows every frame that destroys a future.
#if defined(__OPTIMIZE__)
  [[gnu::always_inline]]
#endif
  ~Future() { release(); }

  void swap(Future& o) noexcept { std::swap(state_, o.state_); }

  // Two handles are equal when they refer to the same result.
  friend bool operator==(const Future& a, const Future& b) {
    return a.state_ == b.state_;
  }

  // Future::done()
  //
  // True once a result or an exception is set. False for a moved-from
  // handle.
  bool done() const { return state_ != nullptr && state_->done; }

  // Future::set_result()
  //
  // Completes the future with `value` and runs the done-callbacks, inline,
  // in the order added. Throws `InvalidStateError` if already done.
  template <class U = T>
    requires(!std::is_void_v<U>)
  void set_result(std::type_identity_t<U> value) {
    State* s = checked_pending("Future::set_result: the future is already done");
    s->value.emplace(std::move(value));
    finish(s);
  }
  void set_result()
    requires std::is_void_v<T>
  {
    finish(checked_pending("Future::set_result: the future is already done"));
  }

  // Future::set_exception()
  //
  // Completes the future with `e` (must not be null) and runs the
  // done-callbacks. Throws `InvalidStateError` if already done, and
  // `std::invalid_argument` for a null `e`.
  void set_exception(std::exception_ptr e) {
    if (!e) {
      throw std::invalid_argument(
          "Future::set_exception: the exception_ptr is null");
    }
    State* s =
        checked_pending("Future::set_exception: the future is already done");
    s->exception = std::move(e);
    finish(s);
  }

  // Future::result()
  //
  // The value (a const reference; nothing for `Future<void>`), or the
  // stored exception rethrown. Throws `InvalidStateError` while pending or
  // after `take_result()`.
  decltype(auto) result() const {
    State* s = checked_value("Future::result: the future is not done yet",
                             "Future::result: the result was already taken "
                             "by take_result()");
    if constexpr (!std::is_void_v<T>) return static_cast<const T&>(*s->value);
  }

  // Future::take_result()
  //
  // Moves the value out (for move-only `T`), or rethrows the stored
  // exception. Once: later `result()`/`take_result()` calls on any handle
  // throw `InvalidStateError`.
  T take_result() {
    State* s = checked_value("Future::take_result: the future is not done yet",
                             "Future::take_result: the result was already taken");
    if constexpr (!std::is_void_v<T>) {
      s->taken = true;
      return std::move(*s->value);
    }
  }

  // Future::exception()
  //
  // The stored exception, or null on success. Throws `InvalidStateError`
  // while pending. Counts as retrieving it.
  std::exception_ptr exception() const {
    State* s = checked_done("Future::exception: the future is not done yet");
    s->retrieved = true;
    return s->exception;
  }

  // Future::cancel()
  //
  // asyncio's meaning. On a pending future: completes it with
  // CancelledError and runs its done-callbacks (a timer behind it, such as
  // gen::sleep's, is removed; a lock's or queue's waiter is withdrawn), or,
  // for a coroutine's future, asks the coroutine to stop (see gen/gen.h,
  // "Cancellation"): the future then completes later, as the coroutine's
  // body ends. Returns true in both cases, false when the future is
  // already done (its outcome stays; an exception in it counts as
  // retrieved, as in asyncio). Harmless from a done-callback, twice, or
  // while the coroutine finishes. Thread-compatible, like set_result.
  bool cancel() {
    State* s = checked("Future::cancel");
    if (s->done) {
      // As asyncio: whoever cancels no longer wants the outcome, so a
      // failure nobody read is not reported either.
      s->retrieved = true;
      return false;
    }
    if (s->cancel_hook != nullptr) return cancel_with_hook(s);
    complete_cancelled(s);
    return true;
  }

  // Future::cancelled()
  //
  // True when the future is done with a CancelledError (it was cancelled,
  // or the coroutine behind it ended by one). Does not count as retrieving
  // the exception.
  bool cancelled() const {
    return state_ != nullptr && state_->done &&
           future_internal::is_cancelled_error(state_->exception);
  }

  // Future::add_done_callback()
  //
  // `fn(Future<T>)` runs once the future is done: at once (inline) if it
  // already is, else when it completes, after the callbacks added before
  // it.
  template <class F>
    requires std::invocable<F&, Future<T>>
  void add_done_callback(F fn) {
    State* s = checked("Future::add_done_callback");
    if (s->done) {
      run_callback(fn);
      return;
    }
    s->callbacks.emplace_back(std::move(fn));
  }

 private:
  friend struct future_internal::Access;

  explicit Future(State* s) noexcept : state_(s) { s->ref(); }

  [[gnu::always_inline]] void release() noexcept {
    if (state_ != nullptr && state_->unref(&State::free_state)) {
      State::free_state(state_);
    }
    state_ = nullptr;
  }

  State* checked(const char* where) const {
    if (state_ == nullptr) {
      future_internal::throw_invalid_state(where);
    }
    return state_;
  }
  State* checked_pending(const char* message) const {
    State* s = checked(message);
    if (s->done) future_internal::throw_invalid_state(message);
    return s;
  }
  State* checked_done(const char* message) const {
    State* s = checked(message);
    if (!s->done) future_internal::throw_invalid_state(message);
    return s;
  }
  // A done future whose value can be read: rethrows a stored exception
  // (retrieving it) and rejects a value already taken.
  State* checked_value(const char* pending, const char* taken) const {
    State* s = checked_done(pending);
    if (s->exception) {
      s->retrieved = true;
      std::rethrow_exception(s->exception);
    }
    if (s->taken) future_internal::throw_invalid_state(taken);
    return s;
  }

  template <class F>
  void run_callback(F& fn) noexcept {
    try {
      fn(Future(state_));
    } catch (...) {
      future_internal::report_callback_exception(std::current_exception());
    }
  }

  [[gnu::noinline]] bool cancel_with_hook(State* s) {
    Future keep(s);  // the hook may drop the last other handle
    if (s->cancel_hook->cancel_requested(s, s->cancel_arg)) return true;
    if (!s->done) complete_cancelled(s);
    return true;
  }
  [[gnu::noinline]] void complete_cancelled(State* s) {
    s->exception = future_internal::make_cancelled_error();
    finish(s);
  }

  void finish(State* s) {
    s->done = true;
    if (!s->callbacks.empty()) run_callbacks(s);
  }
  [[gnu::noinline]] void run_callbacks(State* s) {
    // Keep the state alive while callbacks drop their handles.
    Future keep(s);
    auto callbacks = std::move(s->callbacks);
    s->callbacks.clear();
    for (auto& cb : callbacks) {
      if (cb) run_callback(cb);
    }
  }

  State* state_;
};

// chain_future()
//
// Completes `b` with `a`'s outcome when `a` is done (copying the value, or
// moving it out of `a` when `T` is not copyable); `a` cancelled cancels
// `b` (so a coroutine behind `b` is asked to stop). Does nothing if `b` is
// done by then. Counts as retrieving `a`'s exception.
template <class T>
void chain_future(Future<T> a, Future<T> b) {
  a.add_done_callback([b](Future<T> a) mutable {
    if (b.done()) return;
    if (a.cancelled()) {
      b.cancel();
    } else if (std::exception_ptr e = a.exception()) {
      b.set_exception(std::move(e));
    } else if constexpr (std::is_void_v<T>) {
      b.set_result();
    } else if constexpr (std::is_copy_constructible_v<T>) {
      b.set_result(a.result());
    } else {
      b.set_result(a.take_result());
    }
  });
}

// make_ready_future() / make_exceptional_future(): done futures.
template <class T>
Future<std::decay_t<T>> make_ready_future(T&& value) {
  Future<std::decay_t<T>> f;
  f.set_result(std::forward<T>(value));
  return f;
}
inline Future<void> make_ready_future() {
  Future<void> f;
  f.set_result();
  return f;
}
template <class T>
Future<T> make_exceptional_future(std::exception_ptr e) {
  Future<T> f;
  f.set_exception(std::move(e));
  return f;
}

}  // namespace tornado

#include "tornado/future/internal/access.h"  // IWYU pragma: export

#endif  // TORNADO_FUTURE_FUTURE_H_
