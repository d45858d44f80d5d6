// -----------------------------------------------------------------------------
// options.h
// -----------------------------------------------------------------------------
//
// `IOLoopOptions` (also `IOLoop::Options`): how a loop is built. Included
// by ioloop.h; users write `tornado::IOLoop::Options`.
//
//   tornado::IOLoop::Options options;
//   options.poller = tornado::IOLoop::PollerKind::kPoll;
//   options.make_current = false;
//   tornado::IOLoop loop(options);
//
// A plain value type: thread-compatible.

#ifndef TORNADO_IOLOOP_OPTIONS_H_
#define TORNADO_IOLOOP_OPTIONS_H_

#include <chrono>
#include <optional>

#include "tornado/ioloop/internal/waker.h"

namespace tornado {

namespace ioloop_internal {
enum class PollerKind { kEpoll, kPoll };
}  // namespace ioloop_internal

struct IOLoopOptions {
  ioloop_internal::PollerKind poller = ioloop_internal::PollerKind::kEpoll;
  // eventfd: one fd and one syscall per wake (see ioloop_benchmark).
  ioloop_internal::WakerKind waker = ioloop_internal::WakerKind::kEventfd;
  // Tornado 4.5's `make_current` argument: unset, the new loop becomes the
  // thread's current loop if the thread has none; `true`, it must (the
  // constructor throws std::logic_error if the thread has a current loop
  // already); `false`, it does not.
  std::optional<bool> make_current;
  // While callbacks keep coming, poll at least every this many iterations
  // (see ioloop.h); 1 polls on every iteration, as Tornado.
  int max_iterations_between_polls = 128;
  // After an iteration that received callbacks from other threads, the
  // loop spins this long, watching for more, before blocking in poll:
  // cross-thread hand-offs then need no wake-up syscall on either side.
  // Zero disables it. Costs at most this much CPU per such idle period.
  std::chrono::microseconds idle_spin{50};
  // Worker threads of run_in_executor's pool (started on first use); at
  // least 1 (the constructor throws std::invalid_argument otherwise).
  int executor_threads = 2;
};

}  // namespace tornado

#endif  // TORNADO_IOLOOP_OPTIONS_H_
