// -----------------------------------------------------------------------------
// stack_context.h
// -----------------------------------------------------------------------------
//
// Contextual state that follows callbacks across asynchronous hops, after
// Tornado 4.5's `tornado.stack_context`.
//
// The model in a few lines:
//   - Each thread has a current *snapshot*: an immutable chain of the
//     contexts entered so far, innermost first (Tornado's
//     `_state.contexts`). Entering a scope pushes a node; leaving it pops.
//   - `wrap(fn)` captures the snapshot. Calling the result later, from any
//     thread, installs that snapshot, re-enters every `StackContext` in it
//     (calling its factory again, outermost first), runs `fn`, leaves them
//     again (innermost first) and restores the caller's snapshot.
//   - An exception escaping `fn` is offered to the `ExceptionStackContext`
//     handlers of the snapshot, innermost first; the first handler
//     returning true swallows it, otherwise it propagates to the caller
//     (for the IOLoop: `handle_callback_exception`).
//   - `Local<T>` is a typed value carried the same way (a request id seen
//     by every callback and coroutine of that request).
//
// The libraries use it so that `IOLoop::add_callback`, timeouts, fd
// handlers and coroutines run in the contexts active when they were
// scheduled.
//
// Example:
//
//   tornado::ExceptionStackContext guard([](std::exception_ptr e) {
//     log_request_failure(e);
//     return true;  // handled
//   });
//   loop.add_callback([] { throw std::runtime_error("x"); });  // -> handler
//
// Thread-safety: the current snapshot is per thread; scopes must be left
// on the thread that entered them, in reverse order of entering. A wrapped
// callable is thread-compatible: it may be moved to, and called on, another
// thread, where it re-enters its captured contexts; a context factory or
// handler shared by callables running concurrently on several threads must
// itself be thread-safe.
//
// Cost: when no context is active, `wrap` allocates nothing and calling the
// result costs two thread-local stores.

#ifndef TORNADO_STACK_CONTEXT_STACK_CONTEXT_H_
#define TORNADO_STACK_CONTEXT_STACK_CONTEXT_H_

#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "tornado/stack_context/internal/node.h"

namespace tornado {

// StackContextInconsistentError
//
// A context scope was left while a context entered after it was still
// active: in practice, a coroutine suspended inside a `StackContext` or
// `ExceptionStackContext` block. The coroutine machinery throws it at the
// offending `co_await`. A scope destructor cannot throw: it logs the
// inconsistency instead and counts it (`stack_context::inconsistencies()`).
class StackContextInconsistentError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// StackContext
//
// RAII scope whose context is re-entered around every callback wrapped
// inside it. `context_factory` takes no arguments and returns a movable
// guard object; entering the scope calls it once and keeps the guard until
// the scope ends, and each later call of a wrapped callable calls it again
// and destroys that guard when the callable returns.
//
//   tornado::StackContext ctx([] { return ScopedTimer("request"); });
//
// If the factory throws, the scope is not entered and the exception
// propagates from the constructor. Not copyable or movable: a scope is a
// place in the code.
class StackContext {
 public:
  template <class F>
  explicit StackContext(F context_factory)
      : node_(stack_context_internal::Node::make_stack(
            stack_context_internal::erase_factory(std::move(context_factory)))) {
    stack_context_internal::enter(node_);
    try {
      guard_ = node_->factory();
    } catch (...) {
      stack_context_internal::set_head(node_->parent());
      throw;
    }
  }
  ~StackContext();

  StackContext(const StackContext&) = delete;
  StackContext& operator=(const StackContext&) = delete;

 private:
  std::shared_ptr<stack_context_internal::Node> node_;
  stack_context_internal::Guard guard_;
};

// ExceptionStackContext
//
// RAII scope whose `handler` receives exceptions escaping callbacks wrapped
// inside it. `true` means handled (it stops there); `false` passes it to
// the enclosing exception contexts, then to whoever called the callback
// (the IOLoop logs it through `handle_callback_exception`). A handler that
// throws replaces the exception with the new one, which goes outwards.
//
// Unlike Python's `with` block, the handler does not see exceptions thrown
// directly inside the scope on the entering thread (a C++ destructor cannot
// observe them): only those escaping wrapped callables.
class ExceptionStackContext {
 public:
  explicit ExceptionStackContext(
      std::function<bool(std::exception_ptr)> handler);
  ~ExceptionStackContext();

  ExceptionStackContext(const ExceptionStackContext&) = delete;
  ExceptionStackContext& operator=(const ExceptionStackContext&) = delete;

 private:
  std::shared_ptr<stack_context_internal::Node> node_;
};

// NullContext
//
// RAII scope inside which no context is active: callables wrapped (or
// scheduled on an IOLoop) inside it capture nothing. For fire-and-forget
// work and shared resources (connection pools) that must not keep one
// request's contexts alive.
class NullContext {
 public:
  NullContext();
  ~NullContext();

  NullContext(const NullContext&) = delete;
  NullContext& operator=(const NullContext&) = delete;

 private:
  std::shared_ptr<const stack_context_internal::Node> saved_;
};

namespace stack_context {

// Wrapped<F>
//
// What `wrap(fn)` returns: `fn` plus the snapshot captured at `wrap`.
// Callable with the arguments of `fn`; copyable when `F` is. Calling it
// runs `fn` inside the captured contexts (see the file comment).
template <class F>
class Wrapped {
 public:
  Wrapped(F fn, std::shared_ptr<const stack_context_internal::Node> contexts)
      : fn_(std::move(fn)), contexts_(std::move(contexts)) {}

  template <class... Args>
  void operator()(Args&&... args) {
    if (!contexts_) {
      // Fast path: nothing to re-enter, only run with no context active.
      stack_context_internal::SwapHead swap(nullptr);
      std::invoke(fn_, std::forward<Args>(args)...);
      return;
    }
    stack_context_internal::run_in(contexts_.get(), [&] {
      std::invoke(fn_, std::forward<Args>(args)...);
    });
  }

  // The captured snapshot (null when no context was active).
  const stack_context_internal::Node* contexts() const {
    return contexts_.get();
  }

 private:
  F fn_;
  std::shared_ptr<const stack_context_internal::Node> contexts_;
};

template <class T>
struct is_wrapped : std::false_type {};
template <class F>
struct is_wrapped<Wrapped<F>> : std::true_type {};

// wrap()
//
// Captures the current contexts around `fn` (see the file comment).
// Wrapping an already wrapped callable returns it unchanged, keeping the
// contexts it captured first.
template <class F>
auto wrap(F fn) {
  if constexpr (is_wrapped<std::decay_t<F>>::value) {
    return fn;
  } else {
    return Wrapped<F>(std::move(fn), stack_context_internal::capture());
  }
}

// empty()
//
// True when no context is active on this thread: wrapping would capture
// nothing. The IOLoop uses it to skip wrapping entirely.
inline bool empty() { return stack_context_internal::current_head() == nullptr; }

// inconsistencies()
//
// How many scopes were left out of order on this thread (each was also
// logged). For tests and diagnostics.
int inconsistencies();

// run_with_stack_context()
//
// Runs `fn()` inside `Scope` constructed from `args` and returns its
// result: `run_with_stack_context<StackContext>(factory, fn)`. Lets a
// coroutine start a child inside a context without suspending inside the
// scope.
template <class Scope, class Arg, class Fn>
decltype(auto) run_with_stack_context(Arg&& arg, Fn&& fn) {
  Scope scope(std::forward<Arg>(arg));
  return std::forward<Fn>(fn)();
}

}  // namespace stack_context

// Local<T>
//
// A typed value that follows callbacks and coroutines like a context: a
// value set by a `Local<T>::Scope` is seen by `get()` inside the scope and
// inside every callable wrapped (or scheduled on an IOLoop, or coroutine
// started) inside it, wherever and whenever it runs. Inner scopes shadow
// outer ones. The use folly's `RequestContext` and Python's `contextvars`
// serve: a request id for every log line of that request.
//
//   tornado::Local<std::string> request_id;   // usually a global
//   {
//     tornado::Local<std::string>::Scope scope(request_id, "req-42");
//     loop.add_callback([&] { log(*request_id.get()); });   // "req-42"
//   }
//
// Thread-safety: a `Local` object is thread-safe (it holds no state); the
// values it finds are immutable once set and shared by every callable that
// captured them, so `T` is read concurrently when such callables run on
// several threads.
template <class T>
class Local {
 public:
  Local() = default;
  Local(const Local&) = delete;
  Local& operator=(const Local&) = delete;

  // Local::get()
  //
  // The innermost value in the current contexts, or nullptr if none.
  const T* get() const {
    return static_cast<const T*>(stack_context_internal::find_local(this));
  }

  // Local::Scope
  //
  // RAII: sets the value for the scope's lifetime.
  class Scope {
   public:
    Scope(const Local& local, T value)
        : node_(stack_context_internal::Node::make_local(
              &local, std::make_shared<const T>(std::move(value)))) {
      stack_context_internal::enter(node_);
    }
    ~Scope() { stack_context_internal::leave(node_.get()); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    std::shared_ptr<stack_context_internal::Node> node_;
  };
};

}  // namespace tornado

#endif  // TORNADO_STACK_CONTEXT_STACK_CONTEXT_H_
