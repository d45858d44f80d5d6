// The document's program, line for line (docs/seed/): a coroutine that
// schedules a callback computing a+b, awaits the future the callback
// completes, and prints the result.
//
//   ./bazelw run //examples:asyn_sum            # the document's four lines
//   ./bazelw run //examples:asyn_sum -- --trace # plus the machinery's steps
//
// With --trace, lines starting with "--" name each step as the document
// does (add_callback, handle_yield, add_future, inner, run); see
// docs/walkthrough.md.

#include <cstdio>
#include <cstring>
#include <string_view>

#include "tornado/future/future.h"
#include "tornado/gen/gen.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/logging/logging.h"

using tornado::Future;
using tornado::IOLoop;

// @coroutine def asyn_sum(a, b):
Future<void> asyn_sum(int a, int b) {
  std::printf("begin calculate:sum %d+%d\n", a, b);
  Future<int> future;

  auto callback = [future](int a, int b) mutable {
    std::printf("calculating the sum of %d+%d:\n", a, b);
    future.set_result(a + b);
  };
  IOLoop::instance().add_callback(
      [callback, a, b]() mutable { callback(a, b); });

  int result = co_await future;  // result = yield future

  std::printf("after yielded\n");
  std::printf("the %d+%d=%d\n", a, b, result);
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--trace") == 0) {
      tornado::logging::set_trace_sink([](std::string_view event) {
        std::printf("-- %.*s\n", static_cast<int>(event.size()), event.data());
      });
    } else {
      std::fprintf(stderr, "usage: %s [--trace]\n", argv[0]);
      return 2;
    }
  }
  Future<void> future = asyn_sum(2, 3);
  // The document's main() runs the loop forever; we stop it once the
  // coroutine's future is done, so the program exits 0.
  future.add_done_callback([](Future<void> f) {
    f.result();
    IOLoop::instance().stop();
  });
  IOLoop::instance().start();
  tornado::logging::set_trace_sink(nullptr);
  IOLoop::instance().shutdown();  // nothing left to unwind; closes the loop
  return future.done() ? 0 : 1;
}
