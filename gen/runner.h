// -----------------------------------------------------------------------------
// runner.h
// -----------------------------------------------------------------------------
//
// gen::Runner, the machinery that drives one coroutine (the document's
// `gen.Runner`: `handle_yield` and `run`), and what it records for
// diagnostics. Users do not call it; include "gen/gen.h".
//
// Thread-compatible: a Runner belongs to its coroutine's loop thread.

#ifndef TORNADO_GEN_RUNNER_H_
#define TORNADO_GEN_RUNNER_H_

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "tornado/future/future.h"
#include "tornado/gen/internal/source_location.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/logging/logging.h"
#include "tornado/stack_context/stack_context.h"

namespace tornado::gen {

// Runner
//
// Drives one coroutine, organised as the document's `gen.Runner`:
// `handle_yield` decides what a `co_await` does, `run` resumes the
// coroutine once the awaited future is done. It lives inside the
// coroutine's frame (no allocation of its own). Users do not create or
// call it; it is public so the walkthrough can point at it.
class Runner final : public ioloop_internal::Suspended,
                     public future_internal::CancelHook {
 public:
  Runner() : resume_contexts_(stack_context_internal::current_head()) {}
  ~Runner() { ioloop_internal::LoopAccess::release(this); }
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
    ioloop_internal::LoopAccess::adopt(loop, this);
    since_ns_ = ioloop_internal::LoopAccess::coarse_time_ns(loop);
    token = ioloop_internal::LoopAccess::add_future_cancellable(loop, future, [this](Future<T>) {
      logging::trace("inner");
      run();
    });
    suspended_ = true;
    return true;
  }

  // `co_await gen::moment`: one trip through the loop's callback queue.
  bool handle_yield_moment() {
    logging::trace("handle_yield");
    if (!check_contexts()) return false;
    IOLoop& loop = IOLoop::current();
    ioloop_internal::LoopAccess::adopt(loop, this);
    since_ns_ = ioloop_internal::LoopAccess::coarse_time_ns(loop);
    loop.add_callback([this] { run(); });
    suspended_ = true;
    return true;
  }

  // Runner::run()
  //
  // Resumes the coroutine; the pending `co_await` then reads the future's
  // result (or rethrows its exception) inside the coroutine.
  void run() {
    logging::trace("run");
    ioloop_internal::LoopAccess::release(this);
    resume_contexts_ = stack_context_internal::current_head();
    suspended_ = false;
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
  bool take_inconsistency() {
    const bool was = resume_flags_ & kInconsistent;
    resume_flags_ &= ~kInconsistent;
    return was;
  }
  // Something for the co_await being resumed to throw (an inconsistency,
  // a cancellation): one load on the resumption path.
  bool has_resume_flags() const { return resume_flags_ != 0; }

  // The contexts are as they were when the coroutine was last resumed.
  bool contexts_consistent_fast() const {
    return stack_context_internal::current_head() == resume_contexts_;
  }

  // ---- Cancellation (see gen/gen.h, "Cancellation") ----

  // CancelHook: `cancel()` on the coroutine's own future. Never resumes
  // the coroutine here: suspended on a pending future, it cancels that
  // future (the cancellation travels down the chain of awaits, and the
  // coroutine resumes from the loop with what that future became);
  // otherwise (running, on `gen::moment`, or its awaited future already
  // done) it marks the coroutine so that its next resumption, or its next
  // co_await of a pending future, delivers CancelledError.
  bool cancel_requested(future_internal::RefCount* state, uintptr_t arg) noexcept override;

  // A cancellation to throw at the co_await being resumed (asked while
  // suspended, after the awaited future was done, or on a moment).
  bool take_cancel_on_resume() {
    const bool was = resume_flags_ & kCancelOnResume;
    resume_flags_ &= ~kCancelOnResume;
    return was;
  }
  // A cancellation asked while the coroutine ran, for its next co_await
  // that suspends (or, if it returns first, its end).
  bool cancel_at_next_await() const { return cancel_at_next_await_; }
  bool take_cancel_at_next_await() { return std::exchange(cancel_at_next_await_, false); }
  // Asked to cancel and not finished (sticky; for dumps).
  bool cancelling() const { return cancelling_; }
  // At a co_await of the pending `f` with cancel_at_next_await: passes
  // the cancellation on to `f` (the coroutine then resumes with what `f`
  // made of it).
  template <class T>
  [[gnu::noinline]] void cancel_on_await(Future<T>& f) {
    cancel_at_next_await_ = false;
    f.cancel();
  }
  // At a `co_await gen::moment` with cancel_at_next_await: delivered when
  // the moment resumes.
  void cancel_on_moment() {
    if (take_cancel_at_next_await()) resume_flags_ |= kCancelOnResume;
  }

  // IOLoop::shutdown: as cancel() on the coroutine's future.
  void cancel_suspended() noexcept override { cancel_requested(nullptr, 0); }

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
    awaited_ops_ = &kAwaitedOps<T>;
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
    awaited_ops_ = nullptr;
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
  template <class T>
  static bool cancel_awaited(const void* state) {
    return future_internal::Access::from_state_id<T>(state).cancel();
  }
  // The coroutine whose Runner cancel() on the awaited (pending) future
  // would ask, if it would ask one: cancel_requested goes down a chain of
  // coroutines in a loop instead of one recursion per level.
  template <class T>
  static Runner* awaited_child(const void* state) {
    const Future<T> f = future_internal::Access::from_state_id<T>(state);
    if (f.done()) return nullptr;
    void* p = future_internal::Access::producer(f);
    if (p == nullptr) return nullptr;
    Runner* child = from_suspended(p);
    if (future_internal::Access::cancel_hook(f) !=
        static_cast<future_internal::CancelHook*>(child)) {
      return nullptr;
    }
    return child;
  }

  // What cancel_requested needs of the awaited future, typed once per T:
  // one pointer stored per suspension.
  struct AwaitedOps {
    bool (*cancel)(const void* state);
    Runner* (*child)(const void* state);
  };
  template <class T>
  static constexpr AwaitedOps kAwaitedOps{&cancel_awaited<T>, &awaited_child<T>};

  std::coroutine_handle<> handle_;
  const stack_context_internal::Node* resume_contexts_;
  static constexpr uint8_t kInconsistent = 1;
  static constexpr uint8_t kCancelOnResume = 2;
  uint8_t resume_flags_ = 0;
  bool suspended_ = false;              // waiting for the loop to call run()
  bool cancel_at_next_await_ = false;   // asked while running
  bool cancelling_ = false;             // cancel() was called on the own future
  // How to cancel the awaited future (awaited_state_); null on gen::moment.
  const AwaitedOps* awaited_ops_ = nullptr;
  gen_internal::SourceLocation where_{};
  const char* awaiting_ = nullptr;
  const void* awaited_state_ = nullptr;
  const void* own_state_ = nullptr;
  const void* parent_future_ = nullptr;  // a multi() awaiting this one
  void* const* own_awaiter_ = nullptr;   // in the own future's state
  int64_t since_ns_ = 0;
  std::shared_ptr<void> keep_alive_;
};

namespace gen_internal {

// The coroutine that will complete `f`, if `f` belongs to one still running.
template <class T>
Runner* runner_of(const Future<T>& f) {
  void* p = future_internal::Access::producer(f);
  return p != nullptr ? Runner::from_suspended(p) : nullptr;
}

}  // namespace gen_internal

}  // namespace tornado::gen

#endif  // TORNADO_GEN_RUNNER_H_
