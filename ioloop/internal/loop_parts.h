// ioloop internals: the pieces of IOLoop's private state that need a type
// of their own: an fd handler's entry, a signal-callback slot, and the
// kernel objects (poller, waker), which are made before the IOLoop itself
// so that a failure leaves a plain struct to unwind, not a half-built
// polymorphic loop.
//
// Thread-compatible, except SignalSlot::state (atomic: written by signal
// handlers on any thread).

#ifndef TORNADO_IOLOOP_INTERNAL_LOOP_PARTS_H_
#define TORNADO_IOLOOP_INTERNAL_LOOP_PARTS_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "tornado/ioloop/internal/poller.h"
#include "tornado/ioloop/internal/task.h"
#include "tornado/ioloop/internal/waker.h"

namespace tornado {
struct IOLoopOptions;
}  // namespace tornado

namespace tornado::ioloop_internal {

using Handler = BasicTask<void(int, uint32_t)>;

struct HandlerEntry {
  Handler handler;
  uint32_t events;
};

// One pending add_callback_from_signal callable, built in place (no
// allocation in a signal handler): free, being filled, or ready.
struct SignalSlot {
  std::atomic<int> state{0};
  alignas(absl::AnyInvocable<void()>) unsigned char storage[sizeof(
      absl::AnyInvocable<void()>)];
};

struct KernelObjects {
  explicit KernelObjects(const IOLoopOptions& options);  // in ioloop.cc
  KernelObjects(KernelObjects&&) = default;
  std::unique_ptr<Poller> poller;
  std::unique_ptr<Waker> waker;
};

}  // namespace tornado::ioloop_internal

#endif  // TORNADO_IOLOOP_INTERNAL_LOOP_PARTS_H_
