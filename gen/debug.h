// -----------------------------------------------------------------------------
// debug.h
// -----------------------------------------------------------------------------
//
// Debugging a hang: the tree of coroutines suspended on a loop
// (`dump_coroutines`), on demand or on a signal. Exceptions escaping a
// coroutine carry the same chain into every log line (see runner.h).
//
// Thread-safety: call on the loop's thread (the signal path schedules the
// dump there).

#ifndef TORNADO_GEN_DEBUG_H_
#define TORNADO_GEN_DEBUG_H_

#include <cstddef>
#include <ostream>

#include "tornado/ioloop/ioloop.h"

namespace tornado::gen {

// dump_coroutines()
//
// Writes every coroutine suspended on `loop` as a tree, from the
// coroutines nobody awaits down to the leaves, one line each: function,
// file:line of its co_await, what it awaits, how long it has waited, and
// "(cancelling)" once it has been asked to cancel (Future::cancel) and has
// not finished:
//
//   handler at server.cc:40 awaiting multi for 1203 ms
//     fetch at server.cc:21 awaiting sleep for 1203 ms
//     fetch at server.cc:23 awaiting future for 1203 ms (cancelling)
//
// Call it on the loop's thread (for example from a callback, or through
// `install_dump_on_signal`). Returns the number of coroutines written.
size_t dump_coroutines(std::ostream& os, IOLoop& loop = IOLoop::current());

// install_dump_on_signal()
//
// Opt-in: on `signo` (default SIGQUIT), schedules `dump_coroutines` of
// `loop` to stderr through `add_callback_from_signal`. One loop per
// process; call again to change it. Throws std::system_error if the
// handler cannot be installed.
void install_dump_on_signal(IOLoop& loop, int signo = 3 /* SIGQUIT */);

}  // namespace tornado::gen

#endif  // TORNADO_GEN_DEBUG_H_
