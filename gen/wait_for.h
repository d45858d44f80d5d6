// -----------------------------------------------------------------------------
// wait_for.h
// -----------------------------------------------------------------------------
//
// `gen::wait_for`: a future's outcome within a deadline, cancelling it when
// the deadline passes (asyncio's `wait_for`, Python 3.12). Compare
// `gen::with_timeout` (Tornado's: the future is left running).
//
//   // The backend call is cancelled, and has finished, when this throws.
//   std::string reply = co_await gen::wait_for(200ms, fetch(backend));
//
// Thread-compatible: call on the loop's thread.

#ifndef TORNADO_GEN_WAIT_FOR_H_
#define TORNADO_GEN_WAIT_FOR_H_

#include <chrono>
#include <memory>
#include <utility>

#include "tornado/future/future.h"
#include "tornado/gen/coroutine.h"
#include "tornado/gen/runner.h"
#include "tornado/ioloop/ioloop.h"

namespace tornado::gen {

namespace gen_internal {

struct WaitForTimer {
  bool timed_out = false;
  IOLoop::Timeout timeout;
};

// The coroutine behind wait_for: awaits `f` itself, so that cancelling it
// cancels `f` (the Runner passes the cancellation on) and it finishes only
// once `f` has.
template <class T>
Future<T> wait_for_body(Future<T> f, std::shared_ptr<WaitForTimer> timer) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await f;
      IOLoop::current().remove_timeout(timer->timeout);
      co_return;
    } else {
      T value = co_await f;
      IOLoop::current().remove_timeout(timer->timeout);
      co_return value;
    }
  } catch (const CancelledError&) {
    IOLoop::current().remove_timeout(timer->timeout);
    // `f` ended cancelled: by our deadline, a TimeoutError; else (we were
    // cancelled, or someone cancelled `f`) the cancellation goes on.
    if (timer->timed_out) throw TimeoutError("Timeout");
    throw;
  }
}

}  // namespace gen_internal

// wait_for()
//
// `f`'s outcome if it is done by `deadline` (or within `timeout`) on
// `IOLoop::current()`. Otherwise `f` is cancelled and awaited: if it ends
// cancelled, the result fails with `TimeoutError`; if it finishes some
// other way (it caught the cancellation), with `f`'s own outcome.
// Cancelling the returned future cancels `f`, and it completes once `f`
// has finished. A done `f` is returned as it is; a deadline already passed
// cancels `f` on the next iteration.
template <class T>
Future<T> wait_for(IOLoop::time_point deadline, Future<T> f) {
  if (f.done()) return f;
  IOLoop& loop = IOLoop::current();
  auto timer = std::make_shared<gen_internal::WaitForTimer>();
  Future<T> out = gen_internal::wait_for_body(f, timer);
  future_internal::Access::set_label(out, "wait_for");
  // The timer holds the futures, not the frame: it dies with the loop.
  timer->timeout = loop.call_at(deadline, [timer, f, out]() mutable {
    if (out.done()) return;
    // A cancellation of the wait_for itself, asked first, wins.
    if (Runner* r = gen_internal::runner_of(out); r != nullptr && r->cancelling()) {
      return;
    }
    timer->timed_out = true;
    f.cancel();
  });
  return out;
}
template <class T, class Rep, class Period>
Future<T> wait_for(std::chrono::duration<Rep, Period> timeout, Future<T> f) {
  return wait_for(ioloop_internal::deadline_after(IOLoop::current().time(), timeout),
                  std::move(f));
}

// shield()
//
// A future with `f`'s outcome that can be cancelled without cancelling
// `f` (asyncio's `shield`): cancelling it completes it with
// CancelledError at once and leaves `f` running. A coroutine awaiting
// `gen::shield(f)` can be cancelled while `f` goes on; `f` cancelled by
// someone else cancels the shield too. A done `f` is returned as it is.
template <class T>
Future<T> shield(Future<T> f) {
  if (f.done()) return f;
  Future<T> outer;
  future_internal::Access::set_label(outer, "shield");
  f.add_done_callback([outer](Future<T> inner) mutable {
    if (outer.done()) {
      // Cancelled meanwhile: nobody will read `inner`'s exception here.
      if (!inner.cancelled()) static_cast<void>(inner.exception());
      return;
    }
    chain_future(inner, outer);
  });
  return outer;
}

}  // namespace tornado::gen

#endif  // TORNADO_GEN_WAIT_FOR_H_
