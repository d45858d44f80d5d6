// -----------------------------------------------------------------------------
// timeout_error.h
// -----------------------------------------------------------------------------
//
// `TimeoutError`, the one timeout error: thrown by `IOLoop::run_sync` and
// `gen::with_timeout` (and the waits of //locks and //queues). Included by
// ioloop.h. Thread-safe (an exception type).

#ifndef TORNADO_IOLOOP_TIMEOUT_ERROR_H_
#define TORNADO_IOLOOP_TIMEOUT_ERROR_H_

#include <stdexcept>

namespace tornado {

class TimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tornado

#endif  // TORNADO_IOLOOP_TIMEOUT_ERROR_H_
