// -----------------------------------------------------------------------------
// gen.h
// -----------------------------------------------------------------------------
//
// Coroutines on the IOLoop, after Tornado 4.5's `tornado.gen`. In C++20 a
// function returning `Future<T>` whose body uses `co_await` or `co_return`
// is the coroutine: the return type plays the `@gen.coroutine` decorator.
//
//   tornado::Future<int> asyn_sum(int a, int b) {
//     tornado::Future<int> future;
//     tornado::IOLoop::current().add_callback(
//         [=]() mutable { future.set_result(a + b); });
//     int result = co_await future;     // Tornado: result = yield future
//     co_return result;                 // Tornado: raise gen.Return(result)
//   }
//
// How one call runs, step by step as the document tells it:
//   1. Calling the coroutine runs its body at once, up to the first
//      `co_await` of a future that is not done (the decorator's `next(gen)`),
//      and returns the coroutine's own `Future<T>`.
//   2. At that `co_await`, the coroutine's `Runner::handle_yield` looks at
//      the future: done, the coroutine goes on at once without the loop;
//      not done, it hands the future to `IOLoop::add_future` with a
//      callback (`inner`) that calls `Runner::run`, and the coroutine is
//      suspended. The loop now owns the suspended frame.
//   3. When the future completes, `inner` runs on the loop (never inline);
//      `Runner::run` resumes the coroutine, and the `co_await` gives
//      `future.result()`: the value (`gen.send`), or the stored exception
//      thrown at the `co_await` (`gen.throw`).
//   4. `co_return v` completes the coroutine's future with `v`; an
//      exception escaping the body completes it with that exception.
//      Nested coroutines are coroutines awaiting another one's future.
//
// The stack-context check of the document: the Runner records the
// contexts before each resumption; if a coroutine suspends with others
// active (a `co_await` inside a `StackContext` or `Local<T>::Scope`), the
// caller's contexts are restored and that `co_await` throws
// `StackContextInconsistentError`. A coroutine's callbacks run in the
// contexts active when it was called.
//
// Lifetimes (docs/lifetimes.md has the whole story):
//   - A suspended coroutine's frame is owned by the loop it waits on
//     (IOLoop::current() at the co_await); closing or destroying that loop
//     destroys the frame (its future stays pending, its catch blocks do not
//     run). Frames and the futures they await hold no reference cycle.
//   - A coroutine's future is the coroutine's to complete. If someone
//     completes it from outside first, the body's later result is dropped
//     and an exception escaping it is logged; nothing terminates.
//   - A coroutine lambda reads its captures through `this`: the closure
//     must outlive the frame. The loop's APIs (run_sync, add_callback,
//     spawn_callback, call_later, add_handler, add_future,
//     PeriodicCallback, TCPServer) keep it alive until the coroutine ends;
//     a lambda called directly as a temporary does not live that long:
//
//       loop.spawn_callback([s = std::string("ok")]() -> Future<void> {
//         co_await gen::sleep(std::chrono::milliseconds(1));
//         use(s);                        // fine: the loop keeps the lambda
//       });
//       Future<void> task(std::string s);  // or pass state as parameters
//
//   - A coroutine awaiting another is remembered in the awaited future
//     (for dumps and async chains) and forgets it when the co_await ends or
//     its frame is destroyed: no coroutine points at a dead one.
//
// Thread-safety: a coroutine runs on one loop's thread; everything here is
// thread-compatible and belongs to that thread.

#ifndef TORNADO_GEN_GEN_H_
#define TORNADO_GEN_GEN_H_

// The umbrella header: everything of //gen, one header a job (folly's
// coro/ layout).
#include "tornado/gen/coroutine.h"      // the promise, awaiters, gen::moment
#include "tornado/gen/debug.h"          // dump_coroutines, install_dump_on_signal
#include "tornado/gen/multi.h"          // gen::multi
#include "tornado/gen/runner.h"         // gen::Runner
#include "tornado/gen/sleep.h"          // gen::sleep, gen::maybe_future
#include "tornado/gen/task_group.h"     // gen::TaskGroup
#include "tornado/gen/wait_for.h"       // gen::wait_for, gen::shield
#include "tornado/gen/wait_iterator.h"  // gen::WaitIterator
#include "tornado/gen/with_timeout.h"   // gen::with_timeout

#endif  // TORNADO_GEN_GEN_H_
