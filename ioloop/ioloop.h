// -----------------------------------------------------------------------------
// ioloop.h
// -----------------------------------------------------------------------------
//
// The event loop, after Tornado 4.5's `PollIOLoop`: epoll (or poll(2))
// blocks until an fd is ready or the nearest timeout is due; a waker lets
// other threads and signal handlers interrupt that wait; after waking, the
// loop runs the callbacks queued so far, in order, then the timeouts that
// are due, then dispatches fd events.
//
// One iteration, exactly as Tornado's:
//   1. take the callbacks queued so far (ones added from now on wait for
//      the next iteration), and the timeouts already due (the set is fixed
//      before anything runs);
//   2. run those callbacks, in the order added;
//   3. run those timeouts in deadline order (equal deadlines in the order
//      added), skipping any removed meanwhile;
//   4. if `stop()` was called, return from `start()` here;
//   5. poll: without blocking when callbacks are pending, else until the
//      nearest deadline (at most an hour); dispatch ready fds one at a time,
//      skipping fds whose handler an earlier handler removed.
// One departure, for speed: while callbacks keep coming, step 5 polls only
// every `Options::max_iterations_between_polls` iterations (default 128),
// so a ready fd waits at most that many iterations. The ordering of
// callbacks and timeouts is unchanged.
//
// Everything scheduled (callbacks, timeouts, fd handlers, add_future
// callbacks) runs inside the stack contexts active when it was scheduled
// (see //stack_context), except `spawn_callback` and
// `add_callback_from_signal`, which capture none. An exception escaping
// any of them, and not handled by an ExceptionStackContext, goes to
// `handle_callback_exception` (logs it; the loop goes on).
//
// Lifetimes (docs/lifetimes.md has the whole story, with examples):
//   - The loop owns what is queued on it (callbacks, timeouts, handlers)
//     and the frames of coroutines suspended on it; `close()` destroys them
//     without running them (those coroutines' futures stay pending).
//   - A callable returning a `Future` (a coroutine lambda) given to any
//     scheduling call or `run_sync` is kept alive until its coroutine ends,
//     and its exception is reported as a throwing callback's.
//   - Nothing handed out points at the loop raw: an `add_future` callback,
//     a `with_timeout`, a `PeriodicCallback`, a stream or an executor
//     worker finding the loop closed or destroyed does nothing.
//   - A scheduling call that throws leaves the loop as it was; durations
//     and deadlines saturate (huge means never, past means now).
//
// Thread-safety: an IOLoop belongs to the thread that runs it. Only
// `add_callback` (and `add_callback_from_signal`, which is also
// async-signal-safe) may be called from other threads; everything else,
// including `stop`, only from the loop's thread (from another thread,
// `add_callback([&] { loop.stop(); })`).
//
// Examples: README.md (asyn_sum), docs/guide.md; lifetimes in detail:
// docs/lifetimes.md.

#ifndef TORNADO_IOLOOP_IOLOOP_H_
#define TORNADO_IOLOOP_IOLOOP_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "tornado/future/future.h"
#include "tornado/ioloop/options.h"
#include "tornado/ioloop/timeout.h"
#include "tornado/ioloop/timeout_error.h"
#include "tornado/ioloop/internal/anchor.h"
#include "tornado/ioloop/internal/loop_parts.h"
#include "tornado/ioloop/internal/support.h"
#include "tornado/ioloop/internal/poller.h"
#include "tornado/ioloop/internal/task.h"
#include "tornado/ioloop/internal/thread_pool.h"
#include "tornado/ioloop/internal/time.h"
#include "tornado/ioloop/internal/timeout_heap.h"
#include "tornado/ioloop/internal/waker.h"
#include "tornado/logging/logging.h"
#include "tornado/stack_context/stack_context.h"

namespace tornado {

class IOLoop;


// IOLoop
//
// See the file comment.
class IOLoop {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using duration = clock::duration;

  // Event bits for fd handlers (epoll's values). ERROR is always watched.
  static constexpr uint32_t NONE = 0;
  static constexpr uint32_t READ = 0x001;
  static constexpr uint32_t WRITE = 0x004;
  static constexpr uint32_t ERROR = 0x008 | 0x010;

  // See tornado/ioloop/options.h.
  using PollerKind = ioloop_internal::PollerKind;
  using WakerKind = ioloop_internal::WakerKind;
  using Options = IOLoopOptions;

  // IOLoop::Timeout: a handle for `remove_timeout` (ioloop/timeout.h).
  using Timeout = IOLoopTimeout;

  // A new loop; it becomes this thread's current loop if the thread has
  // none (see Options::make_current). Throws std::system_error if its fds
  // cannot be created (e.g. the process is out of file descriptors),
  // std::invalid_argument for bad options.
  IOLoop();
  explicit IOLoop(Options options);
  // Closes the loop if not closed (see `close`). Must not run while the
  // loop is running.
  virtual ~IOLoop();

  IOLoop(const IOLoop&) = delete;
  IOLoop& operator=(const IOLoop&) = delete;

  // IOLoop::instance()
  //
  // The process-wide loop, created on first use (thread-safe), never
  // destroyed. Creating it does not make it current anywhere.
  static IOLoop& instance();

  // IOLoop::current()
  //
  // This thread's current loop: the one running on it, else the one made
  // current, else `instance()`. `current_or_null` does not fall back.
  // Never a closed or destroyed loop: closing a loop clears it from this
  // thread, including from the loops that `start()` will restore.
  static IOLoop& current();
  static IOLoop* current_or_null();
  void make_current();
  static void clear_current();

  // IOLoop::start() / stop()
  //
  // `start` runs iterations until `stop` is called; it makes the loop
  // current meanwhile and restores the previous current loop after.
  // Throws std::logic_error if the loop is already running or closed.
  // `stop` takes effect at step 4 of the iteration; called while the loop
  // is not running, it makes the next `start` return at once (Tornado).
  void start();
  void stop();
  bool running() const { return running_; }

  // IOLoop::close()
  //
  // Releases every queued callback, timeout and handler without running
  // them, destroys the coroutine frames suspended on this loop (their
  // futures stay pending), stops the executor without waiting for tasks
  // already running (their results are dropped; queued ones never start),
  // and closes the loop's own fds; with `all_fds`, also every fd that has
  // a handler. Afterwards, scheduling anything throws std::logic_error;
  // removing things is a no-op. Idempotent. Throws std::logic_error while
  // running.
  void close(bool all_fds = false);
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  // IOLoop::shutdown()
  //
  // The orderly end of a program (asyncio's `Runner.close()`): cancels
  // every coroutine suspended on this loop (`Future::cancel` on each: each
  // gets CancelledError at its co_await), runs the loop until they have
  // all finished, so their catch blocks and destructors run, or until
  // `grace` has passed, then closes it (`close(all_fds)`). Coroutines that
  // catch the cancellation may go on awaiting within the grace period.
  // Returns how many coroutines were still suspended at the end (their
  // frames are destroyed by the close, as before; a warning is logged).
  // Throws std::logic_error while the loop runs; on a closed loop, returns
  // 0. Examples end with it: `loop.run_sync(main); loop.shutdown();`.
  size_t shutdown(duration grace = std::chrono::seconds(5), bool all_fds = false);
  // Coroutines suspended on this loop (frames it owns).
  size_t suspended_coroutines() const;

  // IOLoop::add_callback()
  //
  // Runs `cb()` on the loop's thread in a later iteration, after the
  // callbacks added before it (from the same thread). Thread-safe: from
  // another thread it wakes the loop. From the loop's own thread while it
  // runs, it takes no lock and makes no syscall. `cb` may return a
  // `Future` (a coroutine lambda; see "Lifetimes"); any other return value
  // is ignored. Throws std::logic_error after `close`.
  template <class F>
  void add_callback(F cb) {
    logging::trace("add_callback");
    push_callable(std::move(cb), ioloop_internal::contexts_for<F>());
  }

  // IOLoop::spawn_callback()
  //
  // `add_callback` with no stack context: for fire-and-forget work whose
  // failures should go to `handle_callback_exception`, not to the caller's
  // exception contexts. Tornado's `spawn_callback(coroutine)` is
  // `spawn_callback([] { return coroutine(); })`.
  template <class F>
  void spawn_callback(F cb) {
    push_callable(std::move(cb), nullptr);
  }

  // IOLoop::add_callback_from_signal()
  //
  // `spawn_callback` that is async-signal-safe: no lock, no allocation
  // (hence `cb` must be at most two pointers big and nothrow-movable), one
  // write(2) at most. Returns false, dropping `cb`, if the 32 slots for
  // pending signal callbacks are full or the loop is closed.
  template <class F>
  bool add_callback_from_signal(F cb);

  // IOLoop::add_future()
  //
  // Schedules `cb(f)` on the loop once `f` is done; never inline, even if
  // `f` is done already. `cb` runs in the contexts active at this call. If
  // the loop is closed or destroyed before `f` completes, `cb` is dropped
  // (never called).
  template <class T, class F>
  void add_future(Future<T> f, F cb);

  // IOLoop::call_at() / call_later() / add_timeout() / remove_timeout()
  //
  // Run `cb()` at (or after) a deadline on this loop's clock (`time()`,
  // std::chrono::steady_clock). Equal deadlines run in the order added.
  // Deadlines and delays saturate: `hours::max()` or `time_point::max()`
  // never fires, a past deadline fires on the next iteration. A NaN delay
  // throws std::invalid_argument. `remove_timeout` cancels: the callable is
  // released at once; a no-op for a fired, removed, or default-constructed
  // handle. None of these is thread-safe; scheduling throws
  // std::logic_error after `close`.
  template <class F>
  Timeout call_at(time_point when, F cb);
  template <class Rep, class Period, class F>
  Timeout call_later(std::chrono::duration<Rep, Period> delay, F cb) {
    return call_at(ioloop_internal::deadline_after(time(), delay), std::move(cb));
  }
  template <class F>
  Timeout add_timeout(time_point deadline, F cb) {
    return call_at(deadline, std::move(cb));
  }
  template <class Rep, class Period, class F>
  Timeout add_timeout(std::chrono::duration<Rep, Period> delay, F cb) {
    return call_later(delay, std::move(cb));
  }
  void remove_timeout(const Timeout& timeout);

  // IOLoop::time()
  //
  // The loop's clock: std::chrono::steady_clock::now().
  time_point time() const { return clock::now(); }

  // IOLoop::add_handler() / update_handler() / remove_handler()
  //
  // `handler(fd, events)` runs when `fd` is ready for `events` (READ,
  // WRITE; ERROR is always included). Errors (std::invalid_argument or
  // std::system_error, naming the fd): a negative fd, an fd that is not
  // open, an fd already registered (add), an fd not registered (update).
  // `remove_handler` of an unregistered fd is a no-op; removing a handler
  // from inside another handler of the same poll result means the removed
  // one is not called.
  template <class F>
  void add_handler(int fd, F handler, uint32_t events);
  void update_handler(int fd, uint32_t events);
  void remove_handler(int fd);

  // IOLoop::run_sync()
  //
  // Starts the loop, runs `func()` on it, and stops it when the future it
  // returned (or its plain value) is done; returns the value or rethrows
  // the exception. `func` may also be a `Future` (asyncio's
  // `run_until_complete(f)`). With a timeout, throws TimeoutError if it
  // passes first (the operation is not cancelled; a coroutine started by
  // `func` goes on, and `func` lives until it ends). Throws
  // std::logic_error if the loop is running already (run_sync does not
  // nest: `co_await` the future instead) or closed. A `stop()` issued while
  // the loop was idle does not cut run_sync short.
  template <class F>
  auto run_sync(F func) {
    return run_sync_impl(std::move(func), std::nullopt);
  }
  template <class F, class Rep, class Period>
  auto run_sync(F func, std::chrono::duration<Rep, Period> timeout) {
    return run_sync_impl(std::move(func),
                         ioloop_internal::saturating_duration(timeout));
  }

  // IOLoop::run_in_executor()
  //
  // Runs the blocking `fn()` on the loop's small thread pool and returns a
  // future completed, on the loop's thread, with its result or exception.
  // Call from the loop's thread. `close()` does not wait for `fn`: if the
  // loop is closed first, the future stays pending and the result is
  // dropped on the worker.
  template <class F>
  auto run_in_executor(F fn) -> Future<std::invoke_result_t<F&>>;

  // IOLoop::handle_callback_exception()
  //
  // Called with an exception that escaped a callback, timeout or handler
  // (and no ExceptionStackContext handled). The default logs "Exception in
  // callback: <type>: <what>" through //logging; the loop goes on.
  virtual void handle_callback_exception(std::exception_ptr e);

  // Which poller this loop uses ("epoll" or "poll").
  const char* poller_name() const { return poller_->name(); }

  // For tests: pending timeouts (live) and heap entries (with cancelled).
  size_t pending_timeouts() const { return timeouts_.live(); }
  size_t timeout_heap_size() const { return timeouts_.heap_size(); }

 private:
  friend struct ioloop_internal::LoopAccess;

  // Internals for //gen, reached through ioloop_internal::LoopAccess.
  // A suspended coroutine frame the loop now owns, and its
  // release when the coroutine resumes (or its frame is destroyed).
  void adopt(ioloop_internal::Suspended* s);
  static void release(ioloop_internal::Suspended* s) noexcept;
  // Calls `f(Suspended*)` for every frame the loop owns (diagnostics).
  template <class F>
  void for_each_suspended(F&& f) const {
    for (ioloop_internal::Suspended* s = suspended_; s != nullptr; s = s->next_) {
      f(s);
    }
  }

  // For //gen: add_future whose callback holds the loop raw, returning a
  // token for `future_internal::Access::cancel_callback`. The caller must
  // withdraw the callback before the loop goes: the Runner does, from its
  // frame's destruction, which close() performs for every frame it owns.
  template <class T, class F>
  size_t add_future_cancellable(Future<T>& f, F cb);

  // gen::sleep's cancel hook: cancelling its future removes its timer at
  // once (no syscall). The timer's callable clears the hook when it fires
  // or is dropped (close), so the hook never outlives the loop.
  class TimerCancel final : public future_internal::CancelHook {
   public:
    explicit TimerCancel(IOLoop* loop) : loop_(loop) {}
    bool cancel_requested(future_internal::RefCount* state, uintptr_t arg) noexcept override;

   private:
    IOLoop* loop_;
  };
  static uintptr_t pack_timeout(const Timeout& t) {
    return (uintptr_t{t.handle_.slot} << 32) | t.handle_.generation;
  }

  // A coarse clock (CLOCK_MONOTONIC_COARSE, ns) read once per poll, for
  // diagnostics that must cost nothing per operation (how long a coroutine
  // has been suspended). May lag by the iterations since the last poll.
  int64_t coarse_time_ns() const { return coarse_now_ns_; }

  // The kernel objects, made first (see internal/loop_parts.h).
  using Kernel = ioloop_internal::KernelObjects;
  IOLoop(Options options, Kernel kernel);

  using Handler = ioloop_internal::Handler;
  using HandlerEntry = ioloop_internal::HandlerEntry;
  using SignalSlot = ioloop_internal::SignalSlot;
  static constexpr int kSlotFree = 0, kSlotFilling = 1, kSlotReady = 2;

  void check_open(const char* where) const {
    if (closed()) ioloop_internal::throw_closed(where);
  }
  bool on_loop_thread() const { return ioloop_internal::tls_running == this; }
  // Queues a callback: built in place in pending_ on the loop's thread
  // (no lock, no syscall), else through the locked remote queue. Strong
  // guarantee: if building the callable throws, the queue is unchanged.
  template <class F>
  void push_fn(F&& fn, ioloop_internal::ContextRef&& contexts);
  // push_fn for a user's callable: one returning a Future is kept alive
  // and watched (see "Lifetimes").
  template <class F>
  void push_callable(F&& fn, ioloop_internal::ContextRef&& contexts);
  void push_remote(ioloop_internal::Task&& task);
  void add_handler_task(int fd, Handler handler, uint32_t events);
  void run_once();
  bool has_incoming() const {
    return remote_pending_.load(std::memory_order_acquire) ||
           signal_pending_.load(std::memory_order_acquire);
  }
  void collect_incoming();
  void drop_signal_slot(SignalSlot& slot) noexcept;
  bool spin_for_incoming();
  void dispatch(int timeout_ms);
  template <class Fn>
  [[gnu::always_inline]] inline void guarded(Fn&& fn) noexcept;
  void destroy_suspended_frames() noexcept;
  void finish_executor(uint64_t id);
  void forget_as_current() noexcept;

  template <class F>
  auto run_sync_impl(F func, std::optional<duration> timeout);

  Options options_;
  Kernel kernel_;
  ioloop_internal::Poller* poller_;  // kernel_.poller
  ioloop_internal::Waker* waker_;    // kernel_.waker
  // Shared with whatever may outlive the loop; detached by close().
  std::shared_ptr<ioloop_internal::LoopAnchor> anchor_;

  // Loop-thread state.
  std::vector<ioloop_internal::Task> pending_;  // next iteration's callbacks
  std::vector<ioloop_internal::Task> ready_;  // this iteration's
  ioloop_internal::TimeoutHeap timeouts_;
  std::vector<ioloop_internal::TimeoutHeap::Due> due_;
  // Indexed by fd (fds are small integers): a lookup per event is an index,
  // and unlike absl's maps, growing it on bad_alloc changes nothing.
  std::vector<std::unique_ptr<HandlerEntry>> handlers_;
  HandlerEntry* find_handler(int fd) const {
    return static_cast<size_t>(fd) < handlers_.size() ? handlers_[fd].get() : nullptr;
  }
  std::vector<ioloop_internal::PollEvent> events_;
  size_t dispatch_index_ = 0;
  // The handler being dispatched, and its entry if it removed itself (kept
  // alive until it returns).
  HandlerEntry* dispatching_ = nullptr;
  std::unique_ptr<HandlerEntry> removed_while_dispatching_;
  bool running_ = false;
  bool stopped_ = false;
  int iterations_since_poll_ = 0;
  int64_t coarse_now_ns_ = 0;
  void update_coarse_time();
  uint64_t run_sync_serial_ = 0;
  ioloop_internal::Suspended* suspended_ = nullptr;  // intrusive list

  // Shared with other threads.
  std::atomic<bool> closed_{false};
  std::atomic<bool> remote_pending_{false};
  // True while the loop is (about to be) blocked in poll: only then do
  // other threads write to the waker. Dekker-style with remote_pending_.
  std::atomic<bool> sleeping_{false};
  bool recent_remote_ = false;  // loop thread: the last batch had remote work
  std::mutex remote_mu_;
  std::vector<ioloop_internal::Task> remote_;  // guarded by remote_mu_
  std::atomic<bool> signal_pending_{false};
  std::array<SignalSlot, 32> signal_slots_;

  // run_in_executor: futures waiting for a worker's result (loop thread).
  std::unique_ptr<ioloop_internal::ThreadPool> executor_;
  uint64_t next_executor_id_ = 0;
  // std::unordered_map: its emplace has the strong guarantee on bad_alloc.
  std::unordered_map<uint64_t, absl::AnyInvocable<void()>> executor_pending_;

  TimerCancel timer_cancel_{this};
};

}  // namespace tornado

#include "tornado/ioloop/internal/ioloop_impl.h"  // IWYU pragma: export

#endif  // TORNADO_IOLOOP_IOLOOP_H_
