// -----------------------------------------------------------------------------
// coroutine.h
// -----------------------------------------------------------------------------
//
// What makes a function returning `Future<T>` a coroutine: the promise,
// the awaiters `co_await` uses (a Future, `gen::moment`), and the
// std::coroutine_traits specialisation. See gen/gen.h for the rules.
//
// Thread-compatible: a coroutine runs on one loop's thread.

#ifndef TORNADO_GEN_COROUTINE_H_
#define TORNADO_GEN_COROUTINE_H_

#include <coroutine>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "tornado/future/future.h"
#include "tornado/gen/internal/source_location.h"
#include "tornado/gen/runner.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/stack_context/stack_context.h"

namespace tornado::gen {

[[noreturn]] void throw_inconsistent();
[[noreturn]] void throw_cancelled();

// ---- Awaiters -------------------------------------------------------------------

namespace gen_internal {

template <class T>
class FutureAwaiter {
 public:
  FutureAwaiter(Future<T> f, Runner* runner, const gen_internal::SourceLocation& where)
      : future_(std::move(f)), runner_(runner), where_(where) {}
  ~FutureAwaiter() {
    // A frame destroyed while suspended leaves no callback behind, and no
    // mark pointing at it.
    if (token_ != future_internal::Access::kNoToken) {
      future_internal::Access::cancel_callback(future_, token_);
    }
    if (future_internal::Access::awaiter(future_) == runner_->as_suspended()) {
      future_internal::Access::set_awaiter(future_, nullptr);
    }
  }
  FutureAwaiter(FutureAwaiter&&) = delete;

  bool await_ready() const noexcept {
    return future_.done() && runner_->contexts_consistent_fast();
  }
  bool await_suspend(std::coroutine_handle<>) {
    if (future_.done()) {
      // Done but the contexts are inconsistent: record it, go on at once,
      // and await_resume throws.
      runner_->check_contexts();
      return false;
    }
    // Asked to cancel while running: the cancellation goes to what we
    // await (it may complete now; we still resume from the loop).
    if (runner_->cancel_at_next_await()) [[unlikely]] runner_->cancel_on_await(future_);
    runner_->note_suspension(where_, future_);
    return runner_->handle_yield(future_, token_);
  }
  decltype(auto) await_resume() {
    if (runner_->has_resume_flags()) [[unlikely]] throw_for_flags();
    if constexpr (std::is_void_v<T>) {
      future_.result();
    } else if constexpr (std::is_copy_constructible_v<T>) {
      return T(future_.result());
    } else {
      return future_.take_result();
    }
  }

 private:
  Future<T> future_;
  Runner* runner_;
  gen_internal::SourceLocation where_;
  size_t token_ = future_internal::Access::kNoToken;

  [[gnu::noinline]] void throw_for_flags() {
    if (runner_->take_inconsistency()) throw_inconsistent();
    if (runner_->take_cancel_on_resume()) {
      // Cancelled after the awaited future was done: CancelledError
      // instead of its result, which goes back to its producer (a lock's
      // unit to the next waiter).
      future_internal::Access::result_dropped(future_);
      throw_cancelled();
    }
  }
};

}  // namespace gen_internal

// moment
//
// `co_await gen::moment` gives the IOLoop one iteration, then resumes:
// other callbacks and coroutines run meanwhile (Tornado's `gen.moment`).
struct Moment {};
inline constexpr Moment moment{};

namespace gen_internal {

class MomentAwaiter {
 public:
  MomentAwaiter(Runner* runner, const gen_internal::SourceLocation& where)
      : runner_(runner), where_(where) {}
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<>) {
    runner_->note_moment(where_);
    runner_->cancel_on_moment();
    return runner_->handle_yield_moment();
  }
  void await_resume() {
    if (runner_->take_inconsistency()) throw_inconsistent();
    if (runner_->take_cancel_on_resume()) throw_cancelled();
  }

 private:
  Runner* runner_;
  gen_internal::SourceLocation where_;
};

void annotate_escaping(const Runner& runner, const std::exception_ptr& e);

template <class>
inline constexpr bool dependent_false = false;

// Fails `f` with "coroutine <where> ended without co_return".
void fail_missing_return_impl(const Runner& runner, std::exception_ptr& out);
template <class T>
void fail_missing_return(Future<T>& f, const Runner& runner) noexcept {
  std::exception_ptr e;
  fail_missing_return_impl(runner, e);
  if (e) f.set_exception(std::move(e));
}
// "Exception in coroutine after its future was done: ..."
void log_dropped_exception(const std::exception_ptr& e) noexcept;


// The promise: what makes a function returning Future<T> a coroutine.
template <class T>
class PromiseBase {
 public:
  std::suspend_never initial_suspend() noexcept { return {}; }
  // A Future<T> coroutine (T not void) whose body flows off its end without
  // `co_return value` gets here with its future pending (undefined
  // behaviour in the standard; GCC and Clang arrive here): rather than a
  // future pending forever, it fails with std::logic_error naming the
  // coroutine.
  std::suspend_never final_suspend() noexcept {
    if constexpr (!std::is_void_v<T>) {
      if (!future_.done()) fail_missing_return(future_, runner_);
    }
    return {};
  }
  ~PromiseBase() {
    future_internal::Access::set_producer(future_, nullptr);
    future_internal::Access::clear_cancel_hook(future_);
  }

  // The coroutine's future is normally completed here, by its body. If
  // someone completed it from outside first, the body's outcome is
  // dropped (an exception is logged): finishing is always harmless.
  void unhandled_exception() noexcept {
    std::exception_ptr e = std::current_exception();
    annotate_escaping(runner_, e);  // the async chain, for the logs
    if (future_.done()) {
      log_dropped_exception(e);
      return;
    }
    future_.set_exception(std::move(e));
  }

  template <class U>
  FutureAwaiter<U> await_transform(
      Future<U> f, gen_internal::SourceLocation where = gen_internal::SourceLocation::current()) {
    return FutureAwaiter<U>(std::move(f), &runner_, where);
  }
  MomentAwaiter await_transform(
      Moment, gen_internal::SourceLocation where = gen_internal::SourceLocation::current()) {
    return MomentAwaiter(&runner_, where);
  }
  // Anything else: a readable error instead of one deep in the machinery.
  template <class U>
  std::suspend_never await_transform(U&&) {
    static_assert(dependent_false<U>,
                  "co_await in a tornado coroutine takes a tornado::Future<T> "
                  "(another coroutine's result, gen::sleep, gen::multi, "
                  "gen::with_timeout, an IOStream read or write) or "
                  "gen::moment; to await a plain value, just use it");
    return {};
  }

 protected:
  void register_self() {
    future_internal::Access::set_producer(future_, runner_.as_suspended());
    future_internal::Access::set_cancel_hook(future_, &runner_, 0);
    runner_.set_own_state(future_internal::Access::state_id(future_),
                          future_internal::Access::awaiter_slot(future_));
  }

 public:

 protected:
  Future<T> future_;
  Runner runner_;
};

template <class T>
class Promise : public PromiseBase<T> {
 public:
  Future<T> get_return_object() {
    this->runner_.set_handle(std::coroutine_handle<Promise>::from_promise(*this));
    this->register_self();
    return this->future_;
  }
  template <class U = T>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& value) {
    if (this->future_.done()) return;  // completed from outside: dropped
    // Asked to cancel and never told (no co_await since): cancelled.
    if (this->runner_.take_cancel_at_next_await()) {
      future_internal::Access::complete_cancelled(this->future_);
      return;
    }
    this->future_.set_result(T(std::forward<U>(value)));
  }
};

template <>
class Promise<void> : public PromiseBase<void> {
 public:
  Future<void> get_return_object() {
    this->runner_.set_handle(std::coroutine_handle<Promise>::from_promise(*this));
    this->register_self();
    return this->future_;
  }
  void return_void() {
    if (this->future_.done()) return;
    if (this->runner_.take_cancel_at_next_await()) {
      future_internal::Access::complete_cancelled(this->future_);
      return;
    }
    this->future_.set_result();
  }
};

}  // namespace gen_internal

}  // namespace tornado::gen

// A function returning Future<T> whose body uses co_await / co_return is a
// coroutine driven by gen::Runner.
template <class T, class... Args>
struct std::coroutine_traits<tornado::Future<T>, Args...> {
  using promise_type = tornado::gen::gen_internal::Promise<T>;
};

#endif  // TORNADO_GEN_COROUTINE_H_
