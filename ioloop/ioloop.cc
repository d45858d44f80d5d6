#include "tornado/ioloop/ioloop.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <system_error>

#include "tornado/ioloop/internal/reserve.h"
#include "tornado/logging/logging.h"

namespace tornado {
namespace {

// Namespace scope and trivially destructible (see the developers' guide:
// function-scope thread_locals with destructors leak under g++).
constinit thread_local IOLoop* tls_current = nullptr;

// The current loops that running start() calls on this thread will
// restore, innermost first: close() clears itself from them, so that a
// loop closed or destroyed while another ran is never made current again.
struct SavedCurrent {
  IOLoop* loop;
  SavedCurrent* next;
};
constinit thread_local SavedCurrent* tls_saved = nullptr;

constexpr int kMaxPollTimeoutMs = 3600 * 1000;  // Tornado's _POLL_TIMEOUT

}  // namespace

namespace ioloop_internal {
constinit thread_local IOLoop* tls_running = nullptr;

void throw_closed(const char* where) {
  throw std::logic_error(std::string("IOLoop::") + where +
                         ": the loop is closed");
}
}  // namespace ioloop_internal

IOLoop::IOLoop() : IOLoop(Options()) {}

namespace ioloop_internal {
KernelObjects::KernelObjects(const IOLoopOptions& options)
    : poller(options.poller == PollerKind::kPoll ? make_poll_poller()
                                                 : make_epoll_poller()),
      waker(make_waker(options.waker)) {}
}  // namespace ioloop_internal

// The kernel objects are made while evaluating the delegating call's
// arguments, before the IOLoop's own construction starts.
IOLoop::IOLoop(Options options) : IOLoop(options, Kernel(options)) {}

IOLoop::IOLoop(Options options, Kernel kernel)
    : options_(options),
      kernel_(std::move(kernel)),
      poller_(kernel_.poller.get()),
      waker_(kernel_.waker.get()),
      anchor_(std::make_shared<ioloop_internal::LoopAnchor>(this)) {
  if (options_.executor_threads < 1) {
    throw std::invalid_argument(
        "IOLoop: Options::executor_threads must be at least 1, got " +
        std::to_string(options_.executor_threads));
  }
  if (options_.make_current.value_or(false) && tls_current != nullptr) {
    throw std::logic_error(
        "IOLoop: Options::make_current is true but this thread has a "
        "current IOLoop already");
  }
  update_coarse_time();
  if (options_.max_iterations_between_polls < 1) {
    options_.max_iterations_between_polls = 1;
  }
  poller_->add(waker_->fd(), READ);
  // Tornado 4.5: a new loop becomes current when the thread has none.
  if (options_.make_current.value_or(tls_current == nullptr)) make_current();
}

IOLoop::~IOLoop() {
  if (running_) {
    logging::error("IOLoop destroyed while running; terminating");
    std::terminate();
  }
  close(false);
}

// ---- current / instance -------------------------------------------------------

IOLoop& IOLoop::instance() {
  // Leaked on purpose: callbacks may still reach it during static
  // destruction. Reachable, so LeakSanitizer does not report it.
  static IOLoop* loop = [] {
    Options o;
    o.make_current = false;  // current() falls back to it anyway
    return new IOLoop(o);
  }();
  return *loop;
}

IOLoop& IOLoop::current() {
  return tls_current != nullptr ? *tls_current : instance();
}

IOLoop* IOLoop::current_or_null() { return tls_current; }

void IOLoop::make_current() { tls_current = this; }

void IOLoop::clear_current() { tls_current = nullptr; }


// ---- start / stop / close -----------------------------------------------------

void IOLoop::start() {
  check_open("start");
  if (running_) throw std::logic_error("IOLoop::start: the loop is already running");
  if (stopped_) {
    stopped_ = false;
    return;
  }
  // Futures created while the loop runs are biased to this thread.
  future_internal::LoopThreadScope biased_futures;
  SavedCurrent saved{tls_current, tls_saved};
  tls_saved = &saved;
  IOLoop* old_running = ioloop_internal::tls_running;
  tls_current = this;
  ioloop_internal::tls_running = this;
  // Tasks without contexts run with none active, whatever the caller of
  // start() had entered.
  stack_context_internal::SwapHead no_contexts(nullptr);
  running_ = true;
  iterations_since_poll_ = 0;
  update_coarse_time();
  struct Restore {
    IOLoop* self;
    SavedCurrent* saved;
    IOLoop* old_running;
    ~Restore() {
      self->running_ = false;
      self->stopped_ = false;
      tls_current = saved->loop;  // null if that loop was closed meanwhile
      tls_saved = saved->next;
      ioloop_internal::tls_running = old_running;
    }
  } restore{this, &saved, old_running};
  while (running_) run_once();
}

void IOLoop::stop() {
  running_ = false;
  stopped_ = true;
  if (!closed()) waker_->wake();
}

void IOLoop::close(bool all_fds) {
  if (running_) throw std::logic_error("IOLoop::close: the loop is running");
  if (closed()) return;
  // First, nothing outside may reach the loop any more: anchors go null
  // (waiting for executor workers inside with_loop), then other threads'
  // add_callback throws.
  anchor_->detach();
  std::vector<ioloop_internal::Task> remote;
  {
    std::lock_guard<std::mutex> lock(remote_mu_);
    closed_.store(true, std::memory_order_release);
    remote.swap(remote_);
  }
  // Stops the workers without waiting for running tasks (they hold only
  // the anchor).
  if (executor_) executor_->shutdown();
  forget_as_current();
  // Release what the loop holds before destroying the frames; a destructor
  // run here may call remove_timeout/remove_handler, which are no-ops now.
  remote.clear();
  auto pending = std::move(pending_);
  auto ready = std::move(ready_);
  pending.clear();
  ready.clear();
  pending_.clear();
  ready_.clear();
  for (SignalSlot& slot : signal_slots_) drop_signal_slot(slot);
  timeouts_.clear();
  executor_pending_.clear();
  auto handlers = std::move(handlers_);
  handlers_.clear();
  for (size_t fd = 0; fd < handlers.size(); ++fd) {
    if (!handlers[fd]) continue;
    poller_->remove(static_cast<int>(fd));
    if (all_fds) ::close(static_cast<int>(fd));
  }
  handlers.clear();
  destroy_suspended_frames();
  pending_.clear();
  // Frees this thread's futures whose last handle went elsewhere.
  future_internal::drain_released();
}

size_t IOLoop::suspended_coroutines() const {
  size_t n = 0;
  for_each_suspended([&n](ioloop_internal::Suspended*) { ++n; });
  return n;
}

size_t IOLoop::shutdown(duration grace, bool all_fds) {
  if (running_) throw std::logic_error("IOLoop::shutdown: the loop is running");
  if (closed()) return 0;
  // Cancelling never resumes a frame inline, but a plain future cancelled
  // on the way runs its done-callbacks: collect first, then cancel.
  std::vector<ioloop_internal::Suspended*> frames;
  for_each_suspended([&frames](ioloop_internal::Suspended* s) { frames.push_back(s); });
  for (ioloop_internal::Suspended* s : frames) {
    // Frames are resumed only from the loop and destroyed only by close():
    // the list holds unless such a callback closed the loop.
    if (closed()) break;
    s->cancel_suspended();
  }
  if (!closed() && suspended_ != nullptr) {
    // Run until every frame has finished, checking each millisecond, or
    // until the grace period ends.
    struct Check {
      IOLoop* loop;
      void operator()() const {
        if (loop->suspended_ == nullptr) {
          loop->stop();
        } else {
          loop->call_later(std::chrono::milliseconds(1), Check{loop});
        }
      }
    };
    Timeout give_up = call_later(grace, [this] { stop(); });
    Timeout check = call_later(std::chrono::milliseconds(0), Check{this});
    stopped_ = false;
    start();
    remove_timeout(give_up);
    remove_timeout(check);
  }
  const size_t left = closed() ? 0 : suspended_coroutines();
  if (left > 0) {
    logging::warning("IOLoop::shutdown: " + std::to_string(left) +
                     " coroutine(s) still suspended after the grace period; "
                     "their frames are destroyed without unwinding");
  }
  close(all_fds);
  return left;
}

void IOLoop::forget_as_current() noexcept {
  if (tls_current == this) tls_current = nullptr;
  for (SavedCurrent* s = tls_saved; s != nullptr; s = s->next) {
    if (s->loop == this) s->loop = nullptr;
  }
}

void IOLoop::drop_signal_slot(SignalSlot& slot) noexcept {
  int expected = kSlotReady;
  if (!slot.state.compare_exchange_strong(expected, kSlotFilling,
                                          std::memory_order_acquire)) {
    return;  // free, being filled, or taken by someone else
  }
  auto* fn =
      std::launder(reinterpret_cast<absl::AnyInvocable<void()>*>(&slot.storage));
  fn->~AnyInvocable();
  slot.state.store(kSlotFree, std::memory_order_release);
}

void IOLoop::destroy_suspended_frames() noexcept {
  while (suspended_ != nullptr) {
    ioloop_internal::Suspended* s = suspended_;
    release(s);
    s->destroy_suspended();
  }
}

void IOLoop::adopt(ioloop_internal::Suspended* s) {
  check_open("adopt");
  s->loop_ = this;
  s->prev_ = nullptr;
  s->next_ = suspended_;
  if (suspended_ != nullptr) suspended_->prev_ = s;
  suspended_ = s;
}

void IOLoop::release(ioloop_internal::Suspended* s) noexcept {
  IOLoop* loop = s->loop_;
  if (loop == nullptr) return;
  if (s->prev_ != nullptr) {
    s->prev_->next_ = s->next_;
  } else {
    loop->suspended_ = s->next_;
  }
  if (s->next_ != nullptr) s->next_->prev_ = s->prev_;
  s->prev_ = s->next_ = nullptr;
  s->loop_ = nullptr;
}

// ---- callbacks ------------------------------------------------------------------

void IOLoop::push_remote(ioloop_internal::Task&& task) {
  std::lock_guard<std::mutex> lock(remote_mu_);
  if (closed_.load(std::memory_order_relaxed)) {
    ioloop_internal::throw_closed("add_callback");
  }
  remote_.push_back(std::move(task));
  remote_pending_.store(true, std::memory_order_seq_cst);
  // Wake only a loop that sleeps (or is about to): it re-checks
  // remote_pending_ after announcing it. Under the lock so close() cannot
  // close the waker meanwhile; the waker coalesces repeated wakes.
  if (sleeping_.load(std::memory_order_seq_cst)) waker_->wake();
}

void IOLoop::collect_incoming() {
  if (remote_pending_.load(std::memory_order_acquire)) {
    recent_remote_ = true;
    std::lock_guard<std::mutex> lock(remote_mu_);
    if (pending_.empty()) {
      pending_.swap(remote_);
    } else {
      // Room first: a failed allocation must not leave moved-from tasks.
      ioloop_internal::reserve_more(pending_, remote_.size());
      for (auto& t : remote_) pending_.push_back(std::move(t));
      remote_.clear();
    }
    remote_pending_.store(false, std::memory_order_relaxed);
  }
  if (signal_pending_.load(std::memory_order_acquire) &&
      signal_pending_.exchange(false, std::memory_order_acq_rel)) {
    ioloop_internal::reserve_more(pending_, signal_slots_.size());
    for (SignalSlot& slot : signal_slots_) {
      int expected = kSlotReady;
      if (!slot.state.compare_exchange_strong(expected, kSlotFilling,
                                              std::memory_order_acquire)) {
        continue;
      }
      auto* fn = std::launder(
          reinterpret_cast<absl::AnyInvocable<void()>*>(&slot.storage));
      pending_.push_back(ioloop_internal::Task{std::move(*fn), nullptr});
      fn->~AnyInvocable();
      slot.state.store(kSlotFree, std::memory_order_release);
    }
  }
}

template <class Fn>
void IOLoop::guarded(Fn&& fn) noexcept {
  try {
    fn();
  } catch (...) {
    try {
      handle_callback_exception(std::current_exception());
    } catch (...) {
      logging::error("IOLoop::handle_callback_exception threw: " +
                     logging::describe(std::current_exception()));
    }
  }
  // A callback that left a context entered (an inconsistency, already
  // reported) must not leak it into the next one.
  if (stack_context_internal::current_head() != nullptr) {
    stack_context_internal::set_head(nullptr);
  }
}

void IOLoop::handle_callback_exception(std::exception_ptr e) {
  logging::error("Exception in callback: " + logging::describe(e));
}

// ---- the iteration --------------------------------------------------------------

void IOLoop::run_once() {
  // Frees futures of this thread whose last handle went elsewhere.
  future_internal::drain_released();
  // (1) Snapshot: callbacks queued so far, and the due timeouts.
  if (has_incoming()) collect_incoming();
  ready_.swap(pending_);
  if (!timeouts_.empty()) timeouts_.pop_due(time(), due_);

  // (2) Callbacks, in order.
  for (auto& task : ready_) guarded(task);
  ready_.clear();

  // (3) Due timeouts, skipping those removed meanwhile.
  if (!due_.empty()) {
    ioloop_internal::Task task;
    for (const auto& d : due_) {
      if (timeouts_.take(d, task)) {
        guarded(task);
        task = ioloop_internal::Task();
      }
    }
    due_.clear();
  }

  // (4) stop() takes effect here.
  if (!running_) return;

  // (5) Poll.
  int timeout_ms;
  if (!pending_.empty() || has_incoming()) {
    if (++iterations_since_poll_ < options_.max_iterations_between_polls) {
      return;  // callbacks keep coming: poll on a later iteration
    }
    timeout_ms = 0;
  } else if (auto next = timeouts_.next_deadline()) {
    // No overflow for deadlines at time_point::min() or max().
    const duration wait = ioloop_internal::until(*next, time());
    if (wait <= duration::zero()) {
      timeout_ms = 0;
    } else {
      // Round up: waking before the deadline would only spin.
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
      timeout_ms = static_cast<int>(std::min<int64_t>(ms, kMaxPollTimeoutMs));
    }
  } else {
    timeout_ms = kMaxPollTimeoutMs;
  }
  iterations_since_poll_ = 0;
  if (timeout_ms != 0) {
    if (recent_remote_ && spin_for_incoming()) {
      timeout_ms = 0;  // work arrived while spinning: poll without blocking
    } else {
      // Dekker with push_remote: store our flag, then read theirs, both
      // seq_cst; at least one side sees the other.
      sleeping_.store(true, std::memory_order_seq_cst);
      if (remote_pending_.load(std::memory_order_seq_cst) ||
          signal_pending_.load(std::memory_order_seq_cst)) {
        timeout_ms = 0;  // arrived before the announcement
      }
    }
    recent_remote_ = false;
  }
  dispatch(timeout_ms);
  sleeping_.store(false, std::memory_order_relaxed);
}

bool IOLoop::spin_for_incoming() {
  if (options_.idle_spin <= std::chrono::microseconds::zero()) return false;
  const auto deadline = clock::now() + options_.idle_spin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (has_incoming()) return true;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    if (clock::now() >= deadline) return false;
  }
}

void IOLoop::update_coarse_time() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  coarse_now_ns_ = int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void IOLoop::dispatch(int timeout_ms) {
  events_.clear();
  poller_->poll(timeout_ms, events_);
  update_coarse_time();
  const int waker_fd = waker_->fd();
  for (dispatch_index_ = 0; dispatch_index_ < events_.size(); ++dispatch_index_) {
    const ioloop_internal::PollEvent ev = events_[dispatch_index_];
    if (ev.fd < 0) continue;  // its handler was removed by an earlier one
    if (ev.fd == waker_fd) {
      waker_->consume();
      continue;
    }
    HandlerEntry* entry = find_handler(ev.fd);
    if (entry == nullptr) continue;
    dispatching_ = entry;
    guarded([&] { entry->handler(ev.fd, ev.events); });
    dispatching_ = nullptr;
    removed_while_dispatching_.reset();  // it removed itself: free it now
  }
  events_.clear();
}

// ---- timeouts -----------------------------------------------------------------

void IOLoop::remove_timeout(const Timeout& timeout) {
  if (closed()) return;
  timeouts_.remove(timeout.handle_);
}

bool IOLoop::TimerCancel::cancel_requested(future_internal::RefCount*,
                                           uintptr_t arg) noexcept {
  ioloop_internal::TimeoutHeap::Handle h;
  h.owner = &loop_->timeouts_;
  h.slot = static_cast<uint32_t>(arg >> 32);
  h.generation = static_cast<uint32_t>(arg);
  loop_->remove_timeout(Timeout(h));
  return false;  // cancel() completes the future
}

// ---- fd handlers ----------------------------------------------------------------

void IOLoop::add_handler_task(int fd, Handler handler, uint32_t events) {
  check_open("add_handler");
  auto name = [fd] { return "IOLoop::add_handler: fd " + std::to_string(fd); };
  if (fd < 0) throw std::invalid_argument(name() + " is negative");
  if (fd == waker_->fd()) {
    throw std::invalid_argument(name() + " is the loop's own waker");
  }
  if (find_handler(fd) != nullptr) {
    throw std::invalid_argument(name() + " is already registered");
  }
  if (fcntl(fd, F_GETFD) < 0) {
    const int err = errno;
    throw std::system_error(err, std::generic_category(), name() + " is not open");
  }
  // Construct, then publish: the entry and the map's room first; the
  // poller registration is the last step that can fail, and the insertion
  // after it cannot.
  auto entry = std::make_unique<HandlerEntry>(HandlerEntry{std::move(handler), events});
  if (static_cast<size_t>(fd) >= handlers_.size()) {
    if (static_cast<size_t>(fd) >= handlers_.capacity()) {
      handlers_.reserve(std::max<size_t>(fd + 1, 2 * handlers_.capacity()));
    }
    handlers_.resize(fd + 1);  // within capacity: cannot throw
  }
  poller_->add(fd, events | ERROR);
  handlers_[fd] = std::move(entry);
}

void IOLoop::update_handler(int fd, uint32_t events) {
  check_open("update_handler");
  HandlerEntry* entry = find_handler(fd);
  if (entry == nullptr) {
    throw std::invalid_argument("IOLoop::update_handler: fd " +
                                std::to_string(fd) + " is not registered");
  }
  poller_->modify(fd, events | ERROR);
  entry->events = events;
}

void IOLoop::remove_handler(int fd) {
  if (closed()) return;
  if (find_handler(fd) == nullptr) return;
  std::unique_ptr<HandlerEntry> entry = std::move(handlers_[fd]);
  poller_->remove(fd);
  // Pending events of this poll result for the fd are dropped (Tornado
  // pops them from _events).
  for (size_t i = dispatch_index_ + 1; i < events_.size(); ++i) {
    if (events_[i].fd == fd) events_[i].fd = -1;
  }
  // A handler removing itself is still running: keep it until it returns.
  if (entry.get() == dispatching_) removed_while_dispatching_ = std::move(entry);
}

// ---- executor -------------------------------------------------------------------

void IOLoop::finish_executor(uint64_t id) {
  auto it = executor_pending_.find(id);
  if (it == executor_pending_.end()) return;
  auto complete = std::move(it->second);
  executor_pending_.erase(it);
  complete();
}

}  // namespace tornado
