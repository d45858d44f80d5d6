// -----------------------------------------------------------------------------
// with_timeout.h
// -----------------------------------------------------------------------------
//
// `gen::with_timeout`: a future's outcome or TimeoutError (Tornado 4.5's
// meaning: the future itself is not cancelled).
//
// Thread-compatible: call on the loop's thread.

#ifndef TORNADO_GEN_WITH_TIMEOUT_H_
#define TORNADO_GEN_WITH_TIMEOUT_H_

#include <chrono>
#include <exception>
#include <utility>

#include "tornado/future/future.h"
#include "tornado/gen/runner.h"
#include "tornado/ioloop/ioloop.h"

namespace tornado::gen {

namespace gen_internal {
void log_after_timeout(const std::exception_ptr& e);
}  // namespace gen_internal

// with_timeout()
//
// `f`'s outcome, or `TimeoutError` if `f` is not done by `deadline` (or
// within `timeout`) on `IOLoop::current()`. `f` is not cancelled; if it
// fails after the timeout, its exception is logged (not a cancellation).
// Cancelling the returned future (a plain one) leaves `f` running and
// removes the timer at once.
template <class T>
Future<T> with_timeout(IOLoop::time_point deadline, Future<T> f) {
  Future<T> result;
  future_internal::Access::set_label(result, "with_timeout");
  if (Runner* child = gen_internal::runner_of(f)) {
    child->set_parent_future(future_internal::Access::state_id(result));
  }
  if (f.done()) {
    chain_future(f, result);
    return result;
  }
  IOLoop& loop = IOLoop::current();
  IOLoop::Timeout timeout = loop.call_at(deadline, [result, f]() mutable {
    if (result.done()) return;
    result.set_exception(std::make_exception_ptr(TimeoutError("Timeout")));
    f.add_done_callback([](Future<T> late) {
      // A cancellation is not an error to report.
      if (std::exception_ptr e = late.exception(); e && !late.cancelled()) {
        gen_internal::log_after_timeout(e);
      }
    });
  });
  // The result done first (cancelled, by a coroutine awaiting it that was
  // cancelled): the timer goes at once, as a sleep's does, instead of
  // holding both futures until the deadline.
  result.add_done_callback([anchor = ioloop_internal::LoopAccess::anchor(loop),
                            timeout](Future<T>) {
    if (IOLoop* l = anchor->get()) l->remove_timeout(timeout);
  });
  // f may complete after the loop is closed or destroyed: hold its anchor.
  f.add_done_callback([result, anchor = ioloop_internal::LoopAccess::anchor(loop),
                       timeout](Future<T> done) mutable {
    if (result.done()) return;
    if (IOLoop* l = anchor->get()) l->remove_timeout(timeout);
    chain_future(done, result);
  });
  return result;
}
template <class T, class Rep, class Period>
Future<T> with_timeout(std::chrono::duration<Rep, Period> timeout,
                       Future<T> f) {
  return with_timeout(
      ioloop_internal::deadline_after(IOLoop::current().time(), timeout),
      std::move(f));
}

}  // namespace tornado::gen

#endif  // TORNADO_GEN_WITH_TIMEOUT_H_
