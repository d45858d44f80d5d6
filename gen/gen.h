// -----------------------------------------------------------------------------
// gen.h
// -----------------------------------------------------------------------------
//
// Coroutines on the IOLoop, after Tornado 4.5's `tornado.gen`. In C++20 a
// function returning `Future<T>` whose body uses `co_await` or `co_return`
// is the coroutine: the return type plays the `@gen.coroutine` decorator.
//
//   tornado::Future<int> asyn_sum(int a, int b) {
//     tornado::Future<int> future;
//     tornado::IOLoop::current().add_callback(
//         [=]() mutable { future.set_result(a + b); });
//     int result = co_await future;     // Tornado: result = yield future
//     co_return result;                 // Tornado: raise gen.Return(result)
//   }
//
// How one call runs, step by step as the document tells it:
//   1. Calling the coroutine runs its body at once, up to the first
//      `co_await` of a future that is not done (the decorator's `next(gen)`),
//      and returns the coroutine's own `Future<T>`.
//   2. At that `co_await`, the coroutine's `Runner::handle_yield` looks at
//      the future: done, the coroutine goes on at once without the loop;
//      not done, it hands the future to `IOLoop::add_future` with a
//      callback (`inner`) that calls `Runner::run`, and the coroutine is
//      suspended. The loop now owns the suspended frame.
//   3. When the future completes, `inner` runs on the loop (never inline);
//      `Runner::run` resumes the coroutine, and the `co_await` gives
//      `future.result()`: the value (`gen.send`), or the stored exception
//      thrown at the `co_await` (`gen.throw`).
//   4. `co_return v` completes the coroutine's future with `v`; an
//      exception escaping the body completes it with that exception.
//      Nested coroutines are coroutines awaiting another one's future.
//
// The stack-context check of the document: the Runner records the
// contexts before each resumption; if a coroutine suspends with others
// active (a `co_await` inside a `StackContext` or `Local<T>::Scope`), the
// caller's contexts are restored and that `co_await` throws
// `StackContextInconsistentError`. A coroutine's callbacks run in the
// contexts active when it was called.
//
// Lifetimes (docs/lifetimes.md has the whole story):
//   - A suspended coroutine's frame is owned by the loop it waits on
//     (IOLoop::current() at the co_await); closing or destroying that loop
//     destroys the frame (its future stays pending, its catch blocks do not
//     run). Frames and the futures they await hold no reference cycle.
//   - A coroutine's future is the coroutine's to complete. If someone
//     completes it from outside first, the body's later result is dropped
//     and an exception escaping it is logged; nothing terminates.
//   - A coroutine lambda reads its captures through `this`: the closure
//     must outlive the frame. The loop's APIs (run_sync, add_callback,
//     spawn_callback, call_later, add_handler, add_future,
//     PeriodicCallback, TCPServer) keep it alive until the coroutine ends;
//     a lambda called directly as a temporary does not live that long:
//
//       loop.spawn_callback([s = std::string("ok")]() -> Future<void> {
//         co_await gen::sleep(std::chrono::milliseconds(1));
//         use(s);                        // fine: the loop keeps the lambda
//       });
//       Future<void> task(std::string s);  // or pass state as parameters
//
//   - A coroutine awaiting another is remembered in the awaited future
//     (for dumps and async chains) and forgets it when the co_await ends or
//     its frame is destroyed: no coroutine points at a dead one.
//
// Thread-safety: a coroutine runs on one loop's thread; everything here is
// thread-compatible and belongs to that thread.

#ifndef TORNADO_GEN_GEN_H_
#define TORNADO_GEN_GEN_H_

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <exception>
#include <optional>
#include <ostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "future/future.h"
#include "gen/internal/source_location.h"
#include "ioloop/ioloop.h"
#include "logging/logging.h"
#include "stack_context/stack_context.h"

namespace tornado::gen {

// Runner
//
// Drives one coroutine, organised as the document's `gen.Runner`:
// `handle_yield` decides what a `co_await` does, `run` resumes the
// coroutine once the awaited future is done. It lives inside the
// coroutine's frame (no allocation of its own). Users do not create or
// call it; it is public so the walkthrough can point at it.
class Runner final : public ioloop_internal::Suspended {
 public:
  Runner() : resume_contexts_(stack_context_internal::current_head()) {}
  ~Runner() { IOLoop::release(this); }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Runner::handle_yield()
  //
  // Called at a `co_await` of a future that is not done. Hands it to
  // `IOLoop::add_future` with `inner` (which calls `run`) and returns true:
  // suspend. Returns false (go on at once) when the stack contexts are
  // inconsistent; the `co_await` then throws.
  template <class T>
  bool handle_yield(Future<T>& future, size_t& token) {
    logging::trace("handle_yield");
    if (!check_contexts()) return false;
    IOLoop& loop = IOLoop::current();
    loop.adopt(this);
    since_ns_ = loop.coarse_time_ns();
    token = loop.add_future_cancellable(future, [this](Future<T>) {
      logging::trace("inner");
      run();
    });
    return true;
  }

  // `co_await gen::moment`: one trip through the loop's callback queue.
  bool handle_yield_moment() {
    logging::trace("handle_yield");
    if (!check_contexts()) return false;
    IOLoop& loop = IOLoop::current();
    loop.adopt(this);
    since_ns_ = loop.coarse_time_ns();
    loop.add_callback([this] { run(); });
    return true;
  }

  // Runner::run()
  //
  // Resumes the coroutine; the pending `co_await` then reads the future's
  // result (or rethrows its exception) inside the coroutine.
  void run() {
    logging::trace("run");
    IOLoop::release(this);
    resume_contexts_ = stack_context_internal::current_head();
    handle_.resume();  // may destroy *this (the coroutine finished)
  }

  void set_handle(std::coroutine_handle<> h) { handle_ = h; }

  // Runner::check_contexts()
  //
  // The document's check: are the contexts those recorded when the
  // coroutine was last resumed? If not (it is suspending inside a context
  // scope), restores them, marks the scopes left behind, and arranges for
  // the pending co_await to throw StackContextInconsistentError.
  bool check_contexts();

  // True once, after check_contexts found the contexts inconsistent.
  bool take_inconsistency() { return std::exchange(inconsistent_, false); }

  // The contexts are as they were when the coroutine was last resumed.
  bool contexts_consistent_fast() const {
    return stack_context_internal::current_head() == resume_contexts_;
  }

  // The loop is closing: destroy the suspended frame (and so this Runner).
  void destroy_suspended() noexcept override { handle_.destroy(); }

  // Keeps `p` until the frame is destroyed: the callable a coroutine
  // lambda was started from (IOLoop::run_sync, add_callback, ...), whose
  // captures the frame uses through `this`.
  void keep_alive(std::shared_ptr<void> p) noexcept override;

  // ---- Diagnostics (gen::dump_coroutines, async chains of exceptions) ----
  // Recorded at each suspension: cheap stores, no allocation, and a coarse
  // clock read (~5 ns).

  // Where the coroutine is suspended, and on what. Awaiting another
  // coroutine's future marks this Runner as that future's awaiter (the
  // FutureAwaiter clears the mark when the co_await ends or the frame is
  // destroyed, so the child never sees a dead parent).
  template <class T>
  void note_suspension(const gen_internal::SourceLocation& where, Future<T>& awaited) {
    where_ = where;
    awaited_state_ = future_internal::Access::state_id(awaited);
    if (future_internal::Access::producer(awaited) != nullptr) {
      future_internal::Access::set_awaiter(awaited, as_suspended());
      awaiting_ = "coroutine";
    } else {
      const char* label = future_internal::Access::label(awaited);
      awaiting_ = label != nullptr ? label : "future";
    }
  }
  void note_moment(const gen_internal::SourceLocation& where) {
    where_ = where;
    awaited_state_ = nullptr;
    awaiting_ = "moment";
  }
  // Called once, with the coroutine's own future's state.
  void set_own_state(const void* s, void* const* awaiter_slot) {
    own_state_ = s;
    own_awaiter_ = awaiter_slot;
  }
  void set_parent_future(const void* s) { parent_future_ = s; }

  // The coroutine awaiting this one, if one still is.
  Runner* awaiting_parent() const {
    void* a = own_awaiter_ != nullptr ? *own_awaiter_ : nullptr;
    return a != nullptr ? from_suspended(a) : nullptr;
  }
  // The Runner as stored in a future's producer/awaiter fields.
  void* as_suspended() { return static_cast<ioloop_internal::Suspended*>(this); }
  static Runner* from_suspended(void* p) {
    return static_cast<Runner*>(static_cast<ioloop_internal::Suspended*>(p));
  }
  const void* own_state() const { return own_state_; }
  const void* awaited_state() const { return awaited_state_; }
  const void* parent_future() const { return parent_future_; }
  const gen_internal::SourceLocation& where() const { return where_; }
  const char* awaiting() const { return awaiting_; }
  int64_t since_ns() const { return since_ns_; }
  static int64_t coarse_now_ns();

  // "function at file:line" of the last suspension.
  std::string describe_frame() const;
  // This coroutine and those awaiting it, one line each (for exceptions).
  std::string async_chain() const;

 private:
  std::coroutine_handle<> handle_;
  const stack_context_internal::Node* resume_contexts_;
  bool inconsistent_ = false;
  gen_internal::SourceLocation where_{};
  const char* awaiting_ = nullptr;
  const void* awaited_state_ = nullptr;
  const void* own_state_ = nullptr;
  const void* parent_future_ = nullptr;  // a multi() awaiting this one
  void* const* own_awaiter_ = nullptr;   // in the own future's state
  int64_t since_ns_ = 0;
  std::shared_ptr<void> keep_alive_;
};

// dump_coroutines()
//
// Writes every coroutine suspended on `loop` as a tree, from the
// coroutines nobody awaits down to the leaves, one line each: function,
// file:line of its co_await, what it awaits, how long it has waited:
//
//   handler at server.cc:40 awaiting multi for 1203 ms
//     fetch at server.cc:21 awaiting sleep for 1203 ms
//     fetch at server.cc:23 awaiting future for 1203 ms
//
// Call it on the loop's thread (for example from a callback, or through
// `install_dump_on_signal`). Returns the number of coroutines written.
size_t dump_coroutines(std::ostream& os, IOLoop& loop = IOLoop::current());

// install_dump_on_signal()
//
// Opt-in: on `signo` (default SIGQUIT), schedules `dump_coroutines` of
// `loop` to stderr through `add_callback_from_signal`. One loop per
// process; call again to change it. Throws std::system_error if the
// handler cannot be installed.
void install_dump_on_signal(IOLoop& loop, int signo = 3 /* SIGQUIT */);

[[noreturn]] void throw_inconsistent();

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
    runner_->note_suspension(where_, future_);
    return runner_->handle_yield(future_, token_);
  }
  decltype(auto) await_resume() {
    if (runner_->take_inconsistency()) throw_inconsistent();
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
    return runner_->handle_yield_moment();
  }
  void await_resume() {
    if (runner_->take_inconsistency()) throw_inconsistent();
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

// The coroutine that will complete `f`, if `f` belongs to one still running.
template <class T>
Runner* runner_of(const Future<T>& f) {
  void* p = future_internal::Access::producer(f);
  return p != nullptr ? Runner::from_suspended(p) : nullptr;
}

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
  ~PromiseBase() { future_internal::Access::set_producer(future_, nullptr); }

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
    if (!this->future_.done()) this->future_.set_result();
  }
};

}  // namespace gen_internal

// ---- Utilities ------------------------------------------------------------------

// sleep()
//
// A future done after `duration`, on `IOLoop::current()`.
template <class Rep, class Period>
Future<void> sleep(std::chrono::duration<Rep, Period> duration) {
  Future<void> f;
  future_internal::Access::set_label(f, "sleep");
  IOLoop::current().call_later(duration, [f]() mutable { f.set_result(); });
  return f;
}

// maybe_future()
//
// A done future holding `value`; a future is returned as it is.
template <class T>
auto maybe_future(T value) {
  if constexpr (is_future_v<T>) {
    return value;
  } else {
    return make_ready_future(std::move(value));
  }
}

namespace gen_internal {
void log_multi_exception(const std::exception_ptr& e);
// multi()'s rule: the first non-null exception is the outcome; the later
// ones are logged ("Multiple exceptions in yield list").
std::exception_ptr first_error_logging_others(const std::exception_ptr* errors,
                                              size_t n);
void log_after_timeout(const std::exception_ptr& e);
}  // namespace gen_internal

// multi()
//
// A future done once every child is done (no fail-fast, as Tornado 4.5):
// all results in input order, or, if any failed, the exception of the
// first failing child in input order; the others are logged ("Multiple
// exceptions in yield list: ..."). An empty list is done at once.
// Move-only results are moved out of the children (list each once).
template <class T>
Future<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> multi(
    std::vector<Future<T>> children) {
  using R = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;
  using Slot = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;
  // The state keeps outcomes, never the children themselves: a child's
  // done-callback owns the state, so holding the children here would be a
  // cycle that leaks when a child never completes.
  struct State {
    size_t remaining;
    std::vector<Slot> values;
    std::vector<std::exception_ptr> errors;
    Future<R> result;
    void finish() {
      std::exception_ptr first =
          gen_internal::first_error_logging_others(errors.data(), errors.size());
      if (first) {
        result.set_exception(first);
      } else if constexpr (std::is_void_v<T>) {
        result.set_result();
      } else {
        std::vector<T> out;
        out.reserve(values.size());
        for (auto& v : values) out.push_back(std::move(*v));
        result.set_result(std::move(out));
      }
    }
  };
  auto state = std::make_shared<State>();
  state->remaining = children.size();
  state->values.resize(children.size());
  state->errors.resize(children.size());
  Future<R> result = state->result;
  future_internal::Access::set_label(result, "multi");
  if (children.empty()) {
    state->finish();
    return result;
  }
  for (size_t i = 0; i < children.size(); ++i) {
    // Child coroutines show under whoever awaits the multi in dumps.
    if (Runner* child = gen_internal::runner_of(children[i])) {
      child->set_parent_future(future_internal::Access::state_id(result));
    }
    children[i].add_done_callback([state, i](Future<T> done) {
      if (std::exception_ptr e = done.exception()) {
        state->errors[i] = e;
      } else if constexpr (std::is_void_v<T>) {
        state->values[i] = true;
      } else if constexpr (std::is_copy_constructible_v<T>) {
        state->values[i].emplace(done.result());
      } else {
        state->values[i].emplace(done.take_result());
      }
      if (--state->remaining == 0) state->finish();
    });
  }
  return result;
}

// multi() of differently typed futures
//
// `co_await gen::multi(fa, fb)` gives a `std::tuple<A, B>` once both are
// done, with the same rules as the vector form: all children awaited, the
// first failure in argument order raised, later ones logged. Non-void
// children only.
template <class... Ts>
  requires(sizeof...(Ts) > 0 && (!std::is_void_v<Ts> && ...))
Future<std::tuple<Ts...>> multi(Future<Ts>... children) {
  // Outcomes only, never the children (see the vector form).
  struct State {
    std::tuple<std::optional<Ts>...> values;
    std::exception_ptr errors[sizeof...(Ts)];
    size_t remaining = sizeof...(Ts);
    Future<std::tuple<Ts...>> result;
    void finish() {
      std::exception_ptr first =
          gen_internal::first_error_logging_others(errors, sizeof...(Ts));
      if (first) {
        result.set_exception(first);
        return;
      }
      result.set_result(std::apply(
          [](auto&... v) { return std::tuple<Ts...>(std::move(*v)...); }, values));
    }
  };
  auto state = std::make_shared<State>();
  Future<std::tuple<Ts...>> result = state->result;
  future_internal::Access::set_label(result, "multi");
  auto watch = [&]<size_t I, class T>(std::integral_constant<size_t, I>,
                                     Future<T>& child) {
    if (Runner* r = gen_internal::runner_of(child)) {
      r->set_parent_future(future_internal::Access::state_id(result));
    }
    child.add_done_callback([state](Future<T> done) {
      if (std::exception_ptr e = done.exception()) {
        state->errors[I] = e;
      } else if constexpr (std::is_copy_constructible_v<T>) {
        std::get<I>(state->values).emplace(done.result());
      } else {
        std::get<I>(state->values).emplace(done.take_result());
      }
      if (--state->remaining == 0) state->finish();
    });
  };
  [&]<size_t... Is>(std::index_sequence<Is...>) {
    (watch(std::integral_constant<size_t, Is>{}, children), ...);
  }(std::index_sequence_for<Ts...>{});
  return result;
}

// with_timeout()
//
// `f`'s outcome, or `TimeoutError` if `f` is not done by `deadline` (or
// within `timeout`) on `IOLoop::current()`. `f` is not cancelled; if it
// fails after the timeout, its exception is logged.
template <class T>
Future<T> with_timeout(IOLoop::time_point deadline, Future<T> f) {
  Future<T> result;
  future_internal::Access::set_label(result, "with_timeout");
  if (Runner* child = gen_internal::runner_of(f)) {
    child->set_parent_future(future_internal::Access::state_id(result));
  }
  if (f.done()) {
    chain_future(f, result);
    return result;
  }
  IOLoop& loop = IOLoop::current();
  IOLoop::Timeout timeout = loop.call_at(deadline, [result, f]() mutable {
    if (result.done()) return;
    result.set_exception(std::make_exception_ptr(TimeoutError("Timeout")));
    f.add_done_callback([](Future<T> late) {
      if (std::exception_ptr e = late.exception()) {
        gen_internal::log_after_timeout(e);
      }
    });
  });
  // f may complete after the loop is closed or destroyed: hold its anchor.
  f.add_done_callback([result, anchor = ioloop_internal::LoopAccess::anchor(loop),
                       timeout](Future<T> done) mutable {
    if (result.done()) return;
    if (IOLoop* l = anchor->get()) l->remove_timeout(timeout);
    chain_future(done, result);
  });
  return result;
}
template <class T, class Rep, class Period>
Future<T> with_timeout(std::chrono::duration<Rep, Period> timeout,
                       Future<T> f) {
  return with_timeout(
      ioloop_internal::deadline_after(IOLoop::current().time(), timeout),
      std::move(f));
}

// WaitIterator
//
// Futures in the order they finish (Tornado's `gen.WaitIterator`):
//
//   gen::WaitIterator<int> it({a, b, c});
//   while (!it.done()) {
//     try {
//       int r = co_await it.next();
//       use(r, it.current_index());
//     } catch (const std::exception& e) { ... }
//   }
//
// Inputs already done come first, in input order. Thread-compatible.
template <class T>
class WaitIterator {
 public:
  explicit WaitIterator(std::vector<Future<T>> futures)
      : state_(std::make_shared<State>()) {
    state_->unfinished = futures.size();
    // The state holds futures only once they are done (done futures keep
    // no callbacks): no cycle through a future that never completes.
    for (size_t i = 0; i < futures.size(); ++i) {
      futures[i].add_done_callback(
          [state = state_, i](Future<T> done) { state->on_done(i, std::move(done)); });
    }
  }

  // True when every input has been returned by next().
  bool done() const {
    if (state_->finished.empty() && state_->unfinished == 0) {
      state_->current_index = -1;
      state_->current_future.reset();
      return true;
    }
    return false;
  }

  // A future completed with the next input to finish. Throws
  // std::logic_error when done().
  Future<T> next() {
    if (done()) {
      throw std::logic_error("WaitIterator::next: no futures left");
    }
    state_->running = Future<T>();
    if (!state_->finished.empty()) {
      auto [i, f] = std::move(state_->finished.front());
      state_->finished.pop_front();
      state_->deliver(i, std::move(f));
    }
    return *state_->running;
  }

  // The position of the input the last next() delivered (-1 if none).
  int current_index() const { return state_->current_index; }
  // That input (empty optional if none).
  const std::optional<Future<T>>& current_future() const {
    return state_->current_future;
  }

 private:
  struct State {
    size_t unfinished = 0;
    std::deque<std::pair<size_t, Future<T>>> finished;
    std::optional<Future<T>> running;
    int current_index = -1;
    std::optional<Future<T>> current_future;

    void on_done(size_t i, Future<T> f) {
      --unfinished;
      if (running && !running->done()) {
        deliver(i, std::move(f));
      } else {
        finished.emplace_back(i, std::move(f));
      }
    }
    void deliver(size_t i, Future<T> f) {
      current_index = static_cast<int>(i);
      current_future = f;
      chain_future(std::move(f), *running);
    }
  };
  std::shared_ptr<State> state_;
};

}  // namespace tornado::gen

// A function returning Future<T> whose body uses co_await / co_return is a
// coroutine driven by gen::Runner.
template <class T, class... Args>
struct std::coroutine_traits<tornado::Future<T>, Args...> {
  using promise_type = tornado::gen::gen_internal::Promise<T>;
};

#endif  // TORNADO_GEN_GEN_H_
