// ioloop internals: the template bodies of IOLoop (Asio's `impl/` split:
// ioloop.h declares and documents, this file defines). Included at the end
// of ioloop/ioloop.h; do not include it directly.

#ifndef TORNADO_IOLOOP_INTERNAL_IOLOOP_IMPL_H_
#define TORNADO_IOLOOP_INTERNAL_IOLOOP_IMPL_H_

#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "tornado/ioloop/internal/reserve.h"

namespace tornado {
namespace ioloop_internal {

// What //gen, //net and PeriodicCallback may see of a loop (users must
// not: these are the loop's internals).
struct LoopAccess {
  static const std::shared_ptr<LoopAnchor>& anchor(const IOLoop& loop) {
    return loop.anchor_;
  }
  // A suspended coroutine frame the loop now owns, and its release when
  // the coroutine resumes (or its frame is destroyed).
  static void adopt(IOLoop& loop, Suspended* s) { loop.adopt(s); }
  static void release(Suspended* s) noexcept { IOLoop::release(s); }
  template <class F>
  static void for_each_suspended(const IOLoop& loop, F&& f) {
    loop.for_each_suspended(std::forward<F>(f));
  }
  template <class T, class F>
  static size_t add_future_cancellable(IOLoop& loop, Future<T>& f, F cb) {
    return loop.add_future_cancellable(f, std::move(cb));
  }
  static int64_t coarse_time_ns(const IOLoop& loop) { return loop.coarse_now_ns_; }
  // Cancelling `f` removes the timer `t` (gen::sleep). The timer's
  // callable must clear the hook when it runs or is destroyed.
  template <class T>
  static void cancel_removes_timer(IOLoop& loop, Future<T>& f, const IOLoop::Timeout& t) {
    future_internal::Access::set_cancel_hook(f, &loop.timer_cancel_, IOLoop::pack_timeout(t));
  }
};

// keep_alive_with()
//
// `keep` lives as long as the coroutine frame that will complete `f`, if
// `f` belongs to a coroutine still running (its producer, a gen::Runner):
// the frame's locals may use the callable (`this` of a coroutine lambda)
// until the frame is gone, after its future completed. A loop closing
// destroys the frame and so releases `keep`.
template <class U>
void keep_alive_with(const Future<U>& f, std::shared_ptr<void> keep) {
  if (void* p = future_internal::Access::producer(f)) {
    static_cast<Suspended*>(p)->keep_alive(std::move(keep));
  }
}

// watch_returned()
//
// A callback returned `f` (it started a coroutine): keep the callable as
// long as that coroutine, and report `f`'s exception as a throwing
// callback's would be (Tornado's `_run_callback` adds the returned future
// to the loop and reads its result there).
template <class U>
void watch_returned(Future<U> f, std::shared_ptr<void> keep) {
  keep_alive_with(f, std::move(keep));
  if (f.done() && (!f.exception() || f.cancelled())) return;  // nothing to report
  if (IOLoop* loop = tls_running) {
    loop->add_future(std::move(f), [](Future<U> done) {
      // A cancelled coroutine is not an error to report (asyncio logs no
      // cancelled task): IOLoop::shutdown cancels every one.
      if (done.cancelled()) return;
      done.result();  // throws the coroutine's exception, in the callback's contexts
    });
  } else {
    // Called outside any loop (by hand): log it when it fails.
    f.add_done_callback([](Future<U> done) {
      if (done.cancelled()) return;
      if (std::exception_ptr e = done.exception()) {
        logging::error("Exception in callback: " + logging::describe(e));
      }
    });
  }
}

// OwningCallable
//
// A user's callable that returns a Future, kept on the heap so that its
// address (the coroutine lambda's `this`) stays valid, and shared with the
// future it returns until that future is done. Copying shares the callable
// (a handler or periodic callback calls it again).
template <class F>
class OwningCallable {
 public:
  explicit OwningCallable(F f) : fn_(std::make_shared<F>(std::move(f))) {}

  template <class... Args>
  void operator()(Args&&... args) {
    // A local reference: the call may destroy this OwningCallable (a
    // PeriodicCallback destroyed by its own callback).
    std::shared_ptr<F> fn = fn_;
    auto f = std::invoke(*fn, std::forward<Args>(args)...);  // before fn moves
    watch_returned(std::move(f), std::move(fn));
  }

 private:
  std::shared_ptr<F> fn_;
};

// The callable the loop stores for `f`: `f` itself, or an OwningCallable.
template <class... Args, class F>
decltype(auto) adapt_callable(F&& f) {
  if constexpr (returns_future_v<F, Args...>) {
    return OwningCallable<std::decay_t<F>>(std::forward<F>(f));
  } else {
    return std::forward<F>(f);
  }
}

}  // namespace ioloop_internal

template <class F>
void IOLoop::push_fn(F&& fn, ioloop_internal::ContextRef&& contexts) {
  if (on_loop_thread()) [[likely]] {
    ioloop_internal::Task& t = pending_.emplace_back();
    try {
      t.fn.emplace(std::forward<F>(fn));
    } catch (...) {
      pending_.pop_back();  // construct, then publish
      throw;
    }
    t.contexts = std::move(contexts);
  } else {
    push_remote(ioloop_internal::Task{std::forward<F>(fn), std::move(contexts)});
  }
}

template <class F>
void IOLoop::push_callable(F&& fn, ioloop_internal::ContextRef&& contexts) {
  push_fn(ioloop_internal::adapt_callable(std::forward<F>(fn)), std::move(contexts));
}

template <class F>
bool IOLoop::add_callback_from_signal(F cb) {
  static_assert(sizeof(F) <= 2 * sizeof(void*) &&
                    alignof(F) <= alignof(void*) &&
                    std::is_nothrow_move_constructible_v<F>,
                "add_callback_from_signal: the callable must fit in two "
                "pointers and be nothrow-movable, so that nothing is "
                "allocated in a signal handler");
  if (closed()) return false;
  for (SignalSlot& slot : signal_slots_) {
    int expected = kSlotFree;
    if (!slot.state.compare_exchange_strong(expected, kSlotFilling,
                                            std::memory_order_acquire)) {
      continue;
    }
    ::new (&slot.storage) absl::AnyInvocable<void()>(std::move(cb));
    slot.state.store(kSlotReady, std::memory_order_release);
    signal_pending_.store(true, std::memory_order_seq_cst);
    if (closed()) {
      // close() ran meanwhile; it may have missed the slot: take it back
      // (or find that close() took it).
      drop_signal_slot(slot);
      return false;
    }
    waker_->wake();
    return true;
  }
  return false;
}

template <class T, class F>
void IOLoop::add_future(Future<T> f, F cb) {
  check_open("add_future");
  logging::trace("add_future");
  auto fn = ioloop_internal::adapt_callable<Future<T>>(std::move(cb));
  using Fn = decltype(fn);
  // The callback left in f's list holds the loop's anchor, never the loop:
  // f may complete after the loop is closed or destroyed.
  f.add_done_callback([anchor = anchor_, fn = std::move(fn),
                       contexts = ioloop_internal::contexts_for<F>()](
                          Future<T> done) mutable {
    IOLoop* loop = anchor->get();
    if (loop == nullptr) return;  // closed: dropped, as everything queued
    loop->push_fn(
        [fn = std::forward<Fn>(fn), done = std::move(done)]() mutable {
          fn(std::move(done));
        },
        std::move(contexts));
  });
}

template <class T, class F>
size_t IOLoop::add_future_cancellable(Future<T>& f, F cb) {
  check_open("add_future");
  logging::trace("add_future");
  if (auto contexts = stack_context_internal::capture()) {
    return future_internal::Access::add_cancellable_callback(
        f, [this, cb = std::move(cb),
            contexts = std::move(contexts)](Future<T> done) mutable {
          push_fn([cb = std::move(cb), done = std::move(done)]() mutable {
            cb(std::move(done));
          }, std::move(contexts));
        });
  }
  return future_internal::Access::add_cancellable_callback(
      f, [this, cb = std::move(cb)](Future<T> done) mutable {
        push_fn([cb = std::move(cb), done = std::move(done)]() mutable {
          cb(std::move(done));
        }, nullptr);
      });
}

template <class F>
IOLoop::Timeout IOLoop::call_at(time_point when, F cb) {
  check_open("call_at");
  return Timeout(timeouts_.add(
      when, ioloop_internal::Task{ioloop_internal::adapt_callable(std::move(cb)),
                                  ioloop_internal::contexts_for<F>()}));
}

template <class F>
void IOLoop::add_handler(int fd, F handler, uint32_t events) {
  add_handler_task(
      fd,
      Handler{ioloop_internal::adapt_callable<int, uint32_t>(std::move(handler)),
              ioloop_internal::contexts_for<F>()},
      events);
}

template <class F>
auto IOLoop::run_sync_impl(F func, std::optional<duration> timeout) {
  if constexpr (is_future_v<F>) {
    // run_sync(f): asyncio's run_until_complete.
    return run_sync_impl([f = std::move(func)] { return f; }, timeout);
  } else {
    static_assert(std::is_invocable_v<F&>,
                  "IOLoop::run_sync: pass a callable taking no arguments that "
                  "returns T or Future<T> (e.g. a coroutine lambda), or a "
                  "Future<T>");
    using R = std::invoke_result_t<F&>;
    using T = typename ioloop_internal::future_value<R>::type;
    check_open("run_sync");
    if (running_) {
      throw std::logic_error(
          "IOLoop::run_sync: the loop is already running (run_sync does not "
          "nest; co_await the future instead)");
    }
    // The call is shared by the queued callback and this frame, so that
    // nothing points into this frame once run_sync returns (the callback
    // might not run: start() can fail), and `fn` lives as long as the
    // coroutine it starts (its frame keeps `this` = &call->fn).
    struct Call {
      explicit Call(F f) : fn(std::move(f)) {}
      F fn;
      Future<T> result;
      bool abandoned = false;
    };
    auto call = std::make_shared<Call>(std::move(func));
    Future<T> result = call->result;
    const uint64_t serial = run_sync_serial_ + 1;
    // Only this run_sync's callbacks may stop the loop: a leftover from an
    // earlier run_sync that timed out must not stop a later one.
    auto stop_if_current = [this, serial] {
      if (run_sync_serial_ == serial) stop();
    };
    push_fn(
        [this, call, stop_if_current]() mutable {
          if (call->abandoned) return;
          try {
            if constexpr (is_future_v<R>) {
              R f = call->fn();
              ioloop_internal::keep_alive_with(f, call);  // fn lives with the frame
              chain_future(std::move(f), call->result);
            } else if constexpr (std::is_void_v<R>) {
              call->fn();
              call->result.set_result();
            } else {
              call->result.set_result(call->fn());
            }
          } catch (...) {
            call->result.set_exception(std::current_exception());
          }
          add_future(call->result, [stop_if_current](Future<T>) {
            stop_if_current();
          });
        },
        stack_context_internal::capture());
    run_sync_serial_ = serial;  // published: nothing below throws before start
    Timeout timer;
    struct Finish {
      IOLoop* self;
      Call* call;
      Timeout* timer;
      ~Finish() {
        call->abandoned = true;
        self->remove_timeout(*timer);
        ++self->run_sync_serial_;
      }
    } finish{this, call.get(), &timer};
    if (timeout) timer = call_later(*timeout, stop_if_current);
    stopped_ = false;  // a stop() issued while idle must not cut this short
    start();
    if (!result.done()) {
      if (timeout) {
        throw TimeoutError(
            "IOLoop::run_sync: operation timed out after " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::microseconds>(*timeout)
                    .count()) +
            " us");
      }
      throw TimeoutError(
          "IOLoop::run_sync: the loop was stopped before the operation "
          "completed");
    }
    if constexpr (std::is_void_v<T>) {
      result.result();
    } else if constexpr (std::is_copy_constructible_v<T>) {
      return T(result.result());
    } else {
      return result.take_result();
    }
  }
}

template <class F>
auto IOLoop::run_in_executor(F fn) -> Future<std::invoke_result_t<F&>> {
  using R = std::invoke_result_t<F&>;
  check_open("run_in_executor");
  struct Outcome {
    std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> value;
    std::exception_ptr error;
  };
  auto outcome = std::make_shared<Outcome>();
  Future<R> result;
  // The future never leaves this thread: the worker only fills `outcome`.
  absl::AnyInvocable<void()> complete([result, outcome]() mutable {
    // Cancelled meanwhile (Future::cancel): the work ran; its outcome has
    // nobody to go to. (A running fn cannot be interrupted.)
    if (result.done()) return;
    if (outcome->error) {
      result.set_exception(outcome->error);
    } else if constexpr (std::is_void_v<R>) {
      result.set_result();
    } else {
      result.set_result(std::move(*outcome->value));
    }
  });
  if (!executor_) {
    executor_ = std::make_unique<ioloop_internal::ThreadPool>(
        options_.executor_threads);
  }
  const uint64_t id = next_executor_id_++;
  executor_pending_.reserve(executor_pending_.size() + 1);
  // The worker holds the loop's anchor, never the loop: close() does not
  // wait for it, and the loop may be gone when it finishes.
  auto task = [anchor = anchor_, id, outcome, fn = std::move(fn)]() mutable {
    try {
      if constexpr (std::is_void_v<R>) {
        fn();
        outcome->value.emplace(true);
      } else {
        outcome->value.emplace(fn());
      }
    } catch (...) {
      outcome->error = std::current_exception();
    }
    try {
      anchor->with_loop([id](IOLoop& loop) {
        loop.spawn_callback([&loop, id] { loop.finish_executor(id); });
      });
    } catch (...) {
      // Out of memory or closing: the future stays pending, as after close.
    }
  };
  executor_pending_.emplace(id, std::move(complete));
  try {
    executor_->submit(std::move(task));
  } catch (...) {
    executor_pending_.erase(id);
    throw;
  }
  return result;
}

}  // namespace tornado

#endif  // TORNADO_IOLOOP_INTERNAL_IOLOOP_IMPL_H_
