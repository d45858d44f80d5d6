// An exception escaping three nested coroutines, nobody retrieving it: the
// log line carries the async chain (the README's sample, checked line for
// line by //tests:examples_output_test).

#include <chrono>
#include <stdexcept>

#include "tornado/gen/gen.h"
#include "tornado/ioloop/ioloop.h"

using tornado::Future;

Future<void> failing_leaf() {
  co_await tornado::gen::moment;
  throw std::runtime_error("deep failure");
}

Future<void> failing_mid() { co_await failing_leaf(); }

Future<void> failing_top() { co_await failing_mid(); }

int main() {
  tornado::IOLoop loop;
  {
    Future<void> f = failing_top();  // nobody reads its exception
    loop.run_sync([] { return tornado::gen::sleep(std::chrono::milliseconds(5)); });
  }  // the last handle goes: "Future exception was never retrieved", to stderr
}
