// -----------------------------------------------------------------------------
// run_loop.h
// -----------------------------------------------------------------------------
//
// For tests that drive an IOLoop by hand (without the AsyncTest fixture):
// `run_for(loop, d)` runs it for `d`; `run_once(loop)` one iteration;
// `run_until(loop, done)` runs it, a
// millisecond at a time, until `done()` or `limit` (a bound against a
// hang, not an assertion: a loaded machine may need many iterations).
// Both remove their stop timer, so nothing is left to stop a later run.
//
// Thread-compatible: call on the loop's thread.

#ifndef TORNADO_TESTING_RUN_LOOP_H_
#define TORNADO_TESTING_RUN_LOOP_H_

#include <chrono>

#include "tornado/ioloop/ioloop.h"

namespace tornado::testing {

inline void run_for(IOLoop& loop, std::chrono::milliseconds d) {
  auto t = loop.call_later(d, [&] { loop.stop(); });
  loop.start();
  loop.remove_timeout(t);
}

// One iteration: the callbacks queued now run; what they schedule waits.
inline void run_once(IOLoop& loop) {
  loop.add_callback([&loop] { loop.stop(); });
  loop.start();
}

template <class Pred>
void run_until(IOLoop& loop, Pred done,
               std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    // A timeout, not a callback: the loop polls before it runs.
    run_for(loop, std::chrono::milliseconds(1));
  }
}

}  // namespace tornado::testing

#endif  // TORNADO_TESTING_RUN_LOOP_H_
