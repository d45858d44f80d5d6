// ioloop internals: the Waker, which lets another thread (or a signal
// handler) wake a loop blocked in poll.
//
// The document's pipe: a byte written to the write end makes the read end,
// which the loop watches for READ, readable. An eventfd does the same with
// one fd. Both are non-blocking and close-on-exec.
//
// Coalescing: `wake()` makes no syscall while a wake is already pending
// (written and not yet consumed). `consume()` drains every pending byte
// first and only then clears the flag, so a wake racing with it is either
// drained or leaves a byte behind: never a lost wake-up.
//
// Thread-safety: `wake()` is thread-safe and async-signal-safe (one atomic
// exchange and at most one write(2); errno is preserved). `consume()` and
// `close()` belong to the loop's thread.

#ifndef TORNADO_IOLOOP_INTERNAL_WAKER_H_
#define TORNADO_IOLOOP_INTERNAL_WAKER_H_

#include <atomic>
#include <memory>

namespace tornado::ioloop_internal {

class Waker {
 public:
  virtual ~Waker() = default;
  // The fd the loop watches for READ.
  virtual int fd() const = 0;
  void wake() noexcept {
    if (!pending_.exchange(true, std::memory_order_acq_rel)) write_one();
  }
  void consume() noexcept {
    drain();
    pending_.store(false, std::memory_order_release);
  }

 protected:
  virtual void write_one() noexcept = 0;
  virtual void drain() noexcept = 0;

 private:
  std::atomic<bool> pending_{false};
};

enum class WakerKind { kEventfd, kPipe };

// Throws std::system_error if the fds cannot be created (e.g. EMFILE).
std::unique_ptr<Waker> make_waker(WakerKind kind);

}  // namespace tornado::ioloop_internal

#endif  // TORNADO_IOLOOP_INTERNAL_WAKER_H_
