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
// Thread-safety: an IOLoop belongs to the thread that runs it. Only
// `add_callback` (and `add_callback_from_signal`, which is also
// async-signal-safe) may be called from other threads; everything else,
// including `stop`, only from the loop's thread (from another thread,
// `add_callback([&] { loop.stop(); })`).
//
// Example (the document's asyn_sum, with callbacks):
//
//   tornado::IOLoop& loop = tornado::IOLoop::current();
//   tornado::Future<int> f;
//   loop.add_callback([f]() mutable { f.set_result(2 + 3); });
//   loop.add_future(f, [&](tornado::Future<int> f) {
//     std::cout << f.result() << "\n";
//     loop.stop();
//   });
//   loop.start();

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
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "future/future.h"
#include "ioloop/internal/poller.h"
#include "ioloop/internal/task.h"
#include "ioloop/internal/thread_pool.h"
#include "ioloop/internal/timeout_heap.h"
#include "ioloop/internal/waker.h"
#include "logging/logging.h"
#include "stack_context/stack_context.h"

namespace tornado {

// TimeoutError
//
// The one timeout error: thrown by `IOLoop::run_sync` and by
// `gen::with_timeout`.
class TimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class IOLoop;

namespace ioloop_internal {

// A coroutine suspended on a loop. The loop owns the frame while it is
// suspended: closing or destroying the loop calls `destroy_suspended`.
// Implemented by //gen's Runner.
class Suspended {
 public:
  virtual void destroy_suspended() noexcept = 0;

 protected:
  ~Suspended() = default;

 private:
  friend class ::tornado::IOLoop;
  Suspended* prev_ = nullptr;
  Suspended* next_ = nullptr;
  IOLoop* loop_ = nullptr;
};

// Throws std::logic_error("IOLoop::<where>: the loop is closed").
[[noreturn]] void throw_closed(const char* where);

// The loop running on this thread, if any (set by IOLoop::start).
extern constinit thread_local IOLoop* tls_running;

template <class T>
struct future_value {
  using type = T;
};
template <class T>
struct future_value<Future<T>> {
  using type = T;
};

}  // namespace ioloop_internal

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

  enum class PollerKind { kEpoll, kPoll };
  using WakerKind = ioloop_internal::WakerKind;

  struct Options {
    PollerKind poller = PollerKind::kEpoll;
    // eventfd: one fd and one syscall per wake (see ioloop_benchmark).
    WakerKind waker = WakerKind::kEventfd;
    // See the file comment; 1 polls on every iteration, as Tornado.
    int max_iterations_between_polls = 128;
    // After an iteration that received callbacks from other threads, the
    // loop spins this long, watching for more, before blocking in poll:
    // cross-thread hand-offs then need no wake-up syscall on either side.
    // Zero disables it. Costs at most this much CPU per such idle period.
    std::chrono::microseconds idle_spin{50};
    // Worker threads of run_in_executor's pool (started on first use).
    int executor_threads = 2;
  };

  // IOLoop::Timeout
  //
  // A handle to a scheduled timeout, for `remove_timeout`. Copyable;
  // default-constructed, it refers to nothing.
  class Timeout {
   public:
    Timeout() = default;
    explicit operator bool() const { return handle_.generation != 0; }

   private:
    friend class IOLoop;
    explicit Timeout(ioloop_internal::TimeoutHeap::Handle h) : handle_(h) {}
    ioloop_internal::TimeoutHeap::Handle handle_;
  };

  // A new loop, not current. Throws std::system_error if its fds cannot be
  // created (e.g. the process is out of file descriptors).
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
  // destroyed.
  static IOLoop& instance();

  // IOLoop::current()
  //
  // This thread's current loop: the one running on it, else the one made
  // current, else `instance()`. `current_or_null` does not fall back.
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
  // futures stay pending), stops the executor's threads, and closes the
  // loop's own fds; with `all_fds`, also every fd that has a handler.
  // Afterwards, scheduling anything throws std::logic_error; removing
  // things is a no-op. Idempotent. Throws std::logic_error while running.
  void close(bool all_fds = false);
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  // IOLoop::add_callback()
  //
  // Runs `cb()` on the loop's thread in a later iteration, after the
  // callbacks added before it (from the same thread). Thread-safe: from
  // another thread it wakes the loop. From the loop's own thread while it
  // runs, it takes no lock and makes no syscall. Throws std::logic_error
  // after `close`.
  template <class F>
  void add_callback(F cb) {
    logging::trace("add_callback");
    push_fn(std::move(cb), stack_context_internal::capture());
  }

  // IOLoop::spawn_callback()
  //
  // `add_callback` with no stack context: for fire-and-forget work whose
  // failures should go to `handle_callback_exception`, not to the caller's
  // exception contexts.
  template <class F>
  void spawn_callback(F cb) {
    push_fn(std::move(cb), nullptr);
  }

  // IOLoop::add_callback_from_signal()
  //
  // `spawn_callback` that is async-signal-safe: no lock, no allocation
  // (hence `cb` must be at most two pointers big and nothrow-movable), one
  // write(2) at most. Returns false if the 32 slots for pending signal
  // callbacks are full or the loop is closed (then `cb` is dropped).
  template <class F>
  bool add_callback_from_signal(F cb) {
    static_assert(sizeof(F) <= 2 * sizeof(void*) &&
                      alignof(F) <= alignof(void*) &&
                      std::is_nothrow_move_constructible_v<F>,
                  "add_callback_from_signal: the callable must fit in two "
                  "pointers and be nothrow-movable, so that nothing is "
                  "allocated in a signal handler");
    for (SignalSlot& slot : signal_slots_) {
      int expected = kSlotFree;
      if (slot.state.compare_exchange_strong(expected, kSlotFilling,
                                             std::memory_order_acquire)) {
        ::new (&slot.storage) absl::AnyInvocable<void()>(std::move(cb));
        slot.state.store(kSlotReady, std::memory_order_release);
        signal_pending_.store(true, std::memory_order_release);
        if (!closed()) waker_->wake();
        return true;
      }
    }
    return false;
  }

  // IOLoop::add_future()
  //
  // Schedules `cb(f)` on the loop once `f` is done; never inline, even if
  // `f` is done already. `cb` runs in the contexts active at this call.
  template <class T, class F>
  void add_future(Future<T> f, F cb) {
    add_future_cancellable(f, std::move(cb));
  }

  // The same, returning a token for `future_internal::Access::
  // cancel_callback` (used by //gen so that a destroyed coroutine frame
  // leaves no callback behind).
  template <class T, class F>
  size_t add_future_cancellable(Future<T>& f, F cb) {
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

  // IOLoop::call_at() / call_later() / add_timeout() / remove_timeout()
  //
  // Run `cb()` at (or after) a deadline on this loop's clock (`time()`,
  // std::chrono::steady_clock). Equal deadlines run in the order added.
  // `remove_timeout` cancels: the callable is released at once; a no-op
  // for a fired, removed, or default-constructed handle. None of these is
  // thread-safe; scheduling throws std::logic_error after `close`.
  template <class F>
  Timeout call_at(time_point when, F cb) {
    check_open("call_at");
    return Timeout(timeouts_.add(
        when, ioloop_internal::Task{std::move(cb),
                                    stack_context_internal::capture()}));
  }
  template <class Rep, class Period, class F>
  Timeout call_later(std::chrono::duration<Rep, Period> delay, F cb) {
    return call_at(time() + std::chrono::duration_cast<duration>(delay),
                   std::move(cb));
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
  void add_handler(int fd, F handler, uint32_t events) {
    add_handler_task(fd,
                     Handler{std::move(handler), stack_context_internal::capture()},
                     events);
  }
  void update_handler(int fd, uint32_t events);
  void remove_handler(int fd);

  // IOLoop::run_sync()
  //
  // Starts the loop, runs `func()` on it, and stops it when the future it
  // returned (or its plain value) is done; returns the value or rethrows
  // the exception. With a timeout, throws TimeoutError if it passes first
  // (the operation is not cancelled). Throws std::logic_error if the loop
  // is running already.
  template <class F>
  auto run_sync(F func) {
    return run_sync_impl(std::move(func), std::nullopt);
  }
  template <class F, class Rep, class Period>
  auto run_sync(F func, std::chrono::duration<Rep, Period> timeout) {
    return run_sync_impl(std::move(func),
                         std::chrono::duration_cast<duration>(timeout));
  }

  // IOLoop::run_in_executor()
  //
  // Runs the blocking `fn()` on the loop's small thread pool and returns a
  // future completed, on the loop's thread, with its result or exception.
  // Call from the loop's thread.
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

  // For //gen: a suspended coroutine frame the loop now owns, and its
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

  // A coarse clock (CLOCK_MONOTONIC_COARSE, ns) read once per poll, for
  // diagnostics that must cost nothing per operation (how long a coroutine
  // has been suspended). May lag by the iterations since the last poll.
  int64_t coarse_time_ns() const { return coarse_now_ns_; }

  // For tests: pending timeouts (live) and heap entries (with cancelled).
  size_t pending_timeouts() const { return timeouts_.live(); }
  size_t timeout_heap_size() const { return timeouts_.heap_size(); }

 private:
  struct Kernel;
  IOLoop(Options options, Kernel kernel);

  using Handler = ioloop_internal::BasicTask<void(int, uint32_t)>;
  struct HandlerEntry {
    Handler handler;
    uint32_t events;
  };
  struct SignalSlot {
    std::atomic<int> state{0};
    alignas(absl::AnyInvocable<void()>) unsigned char storage[sizeof(
        absl::AnyInvocable<void()>)];
  };
  static constexpr int kSlotFree = 0, kSlotFilling = 1, kSlotReady = 2;

  void check_open(const char* where) const {
    if (closed()) ioloop_internal::throw_closed(where);
  }
  bool on_loop_thread() const { return ioloop_internal::tls_running == this; }
  // Queues a callback: built in place in pending_ on the loop's thread
  // (no lock, no syscall), else through the locked remote queue.
  template <class F>
  void push_fn(F&& fn, ioloop_internal::ContextRef&& contexts) {
    if (on_loop_thread()) [[likely]] {
      ioloop_internal::Task& t = pending_.emplace_back();
      t.fn.emplace(std::forward<F>(fn));
      t.contexts = std::move(contexts);
    } else {
      push_remote(ioloop_internal::Task{std::forward<F>(fn), std::move(contexts)});
    }
  }
  void push_remote(ioloop_internal::Task&& task);
  void add_handler_task(int fd, Handler handler, uint32_t events);
  void run_once();
  bool has_incoming() const {
    return remote_pending_.load(std::memory_order_acquire) ||
           signal_pending_.load(std::memory_order_acquire);
  }
  void collect_incoming();
  bool spin_for_incoming();
  void dispatch(int timeout_ms);
  template <class Fn>
  [[gnu::always_inline]] inline void guarded(Fn&& fn) noexcept;
  void destroy_suspended_frames() noexcept;
  void finish_executor(uint64_t id);

  template <class F>
  auto run_sync_impl(F func, std::optional<duration> timeout);

  // The kernel objects, made first: if making one fails, the exception
  // leaves a plain struct (no half-built polymorphic IOLoop to unwind).
  struct Kernel {
    explicit Kernel(const Options& options);
    Kernel(Kernel&&) = default;
    std::unique_ptr<ioloop_internal::Poller> poller;
    std::unique_ptr<ioloop_internal::Waker> waker;
  };

  Options options_;
  Kernel kernel_;
  ioloop_internal::Poller* poller_;  // kernel_.poller
  ioloop_internal::Waker* waker_;    // kernel_.waker

  // Loop-thread state.
  std::vector<ioloop_internal::Task> pending_;  // next iteration's callbacks
  std::vector<ioloop_internal::Task> ready_;  // this iteration's
  ioloop_internal::TimeoutHeap timeouts_;
  std::vector<ioloop_internal::TimeoutHeap::Due> due_;
  absl::flat_hash_map<int, std::unique_ptr<HandlerEntry>> handlers_;
  std::vector<ioloop_internal::PollEvent> events_;
  size_t dispatch_index_ = 0;
  std::vector<std::unique_ptr<HandlerEntry>> removed_handlers_;
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
  absl::flat_hash_map<uint64_t, absl::AnyInvocable<void()>> executor_pending_;
};

// ---- Templates ---------------------------------------------------------------

template <class F>
auto IOLoop::run_sync_impl(F func, std::optional<duration> timeout) {
  using R = std::invoke_result_t<F&>;
  using T = typename ioloop_internal::future_value<R>::type;
  Future<T> result;
  const uint64_t serial = ++run_sync_serial_;
  // Only this run_sync's callbacks may stop the loop: a leftover from an
  // earlier run_sync that timed out must not stop a later one.
  auto stop_if_current = [this, serial] {
    if (run_sync_serial_ == serial) stop();
  };
  add_callback([this, &func, result, stop_if_current]() mutable {
    try {
      if constexpr (is_future_v<R>) {
        chain_future(func(), result);
      } else if constexpr (std::is_void_v<R>) {
        func();
        result.set_result();
      } else {
        result.set_result(func());
      }
    } catch (...) {
      result.set_exception(std::current_exception());
    }
    add_future(result, [stop_if_current](Future<T>) { stop_if_current(); });
  });
  Timeout timer;
  if (timeout) timer = call_later(*timeout, stop_if_current);
  try {
    start();
  } catch (...) {
    remove_timeout(timer);
    throw;
  }
  remove_timeout(timer);
  ++run_sync_serial_;
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
  const uint64_t id = next_executor_id_++;
  // The future never leaves this thread: the worker only fills `outcome`.
  executor_pending_.emplace(id, [result, outcome]() mutable {
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
  executor_->submit([this, id, outcome, fn = std::move(fn)]() mutable {
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
      spawn_callback([this, id] { finish_executor(id); });
    } catch (const std::logic_error&) {
      // The loop closed meanwhile; its future stays pending.
    }
  });
  return result;
}

}  // namespace tornado

#endif  // TORNADO_IOLOOP_IOLOOP_H_
