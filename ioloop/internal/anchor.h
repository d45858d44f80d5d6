// ioloop internals: LoopAnchor, what stands in for an IOLoop in anything
// that may outlive it.
//
// A callback left in a future's list, a with_timeout watcher, a
// PeriodicCallback or an executor worker must not hold a raw `IOLoop*`:
// the loop may be closed or destroyed first. They hold a
// `std::shared_ptr<LoopAnchor>` instead; `close()` detaches the anchor, and
// from then on `get()` is null and `with_loop` does nothing. The loop owns
// one anchor, made with it, and shares it.
//
// Thread-safety: thread-safe. `get()` is for the loop's own thread (a
// plain acquire load); other threads use `with_loop`, which holds the
// anchor's mutex so that `close()` (which detaches under it) waits for
// them.

#ifndef TORNADO_IOLOOP_INTERNAL_ANCHOR_H_
#define TORNADO_IOLOOP_INTERNAL_ANCHOR_H_

#include <atomic>
#include <mutex>

namespace tornado {
class IOLoop;
}  // namespace tornado

namespace tornado::ioloop_internal {

class LoopAnchor {
 public:
  explicit LoopAnchor(IOLoop* loop) : loop_(loop) {}
  LoopAnchor(const LoopAnchor&) = delete;
  LoopAnchor& operator=(const LoopAnchor&) = delete;

  // The loop, or null once it is closed (loop thread).
  IOLoop* get() const { return loop_.load(std::memory_order_acquire); }

  // Calls `fn(loop)` unless the loop is closed, keeping it from closing
  // meanwhile (any thread). Returns whether `fn` ran.
  template <class Fn>
  bool with_loop(Fn&& fn) {
    std::lock_guard<std::mutex> lock(mu_);
    IOLoop* loop = loop_.load(std::memory_order_relaxed);
    if (loop == nullptr) return false;
    fn(*loop);
    return true;
  }

  // Called by IOLoop::close(): waits for `with_loop` calls in progress.
  void detach() {
    std::lock_guard<std::mutex> lock(mu_);
    loop_.store(nullptr, std::memory_order_release);
  }

 private:
  std::mutex mu_;
  std::atomic<IOLoop*> loop_;
};

}  // namespace tornado::ioloop_internal

#endif  // TORNADO_IOLOOP_INTERNAL_ANCHOR_H_
