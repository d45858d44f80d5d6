// The README's twenty-line example, kept compiling and running by
// //tests:examples_output_test.

#include <cstdio>

#include "tornado/gen/gen.h"        // //gen
#include "tornado/ioloop/ioloop.h"  // //ioloop

using tornado::Future;
using tornado::IOLoop;

Future<int> asyn_sum(int a, int b) {
  Future<int> future;
  IOLoop::current().add_callback([=]() mutable { future.set_result(a + b); });
  int result = co_await future;     // Tornado: result = yield future
  co_return result;                 // Tornado: raise gen.Return(result)
}

int main() {
  IOLoop loop;
  int sum = loop.run_sync([] { return asyn_sum(2, 3); });
  std::printf("2+3=%d\n", sum);
  loop.shutdown();  // cancels and unwinds whatever is still suspended
}
