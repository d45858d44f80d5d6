// A program whose coroutines deadlock on purpose, then show where each one
// is stuck with gen::dump_coroutines: the tree from the coroutines nobody
// awaits down to the leaves, with the file:line of each co_await, what it
// awaits and for how long.
//
//   ./bazelw run //examples:hang
//
// The same dump is available in any program without code changes to the
// coroutines: call gen::install_dump_on_signal(loop) once, then
// `kill -QUIT <pid>`.

#include <chrono>
#include <iostream>
#include <vector>

#include "tornado/gen/gen.h"
#include "tornado/ioloop/ioloop.h"

using namespace std::chrono_literals;
using tornado::Future;
using tornado::IOLoop;
namespace gen = tornado::gen;

// Each worker completes the other's future only after getting its own.
Future<int> worker_a(Future<int> from_b, Future<int> to_b) {
  int v = co_await from_b;  // waits for b, which waits for a: deadlock
  to_b.set_result(v + 1);
  co_return v;
}

Future<int> worker_b(Future<int> from_a, Future<int> to_a) {
  int v = co_await from_a;
  to_a.set_result(v + 1);
  co_return v;
}

Future<void> heartbeat() {
  for (;;) co_await gen::sleep(1h);
}

Future<void> handle_request() {
  Future<int> a_to_b, b_to_a;
  std::vector<Future<int>> workers;
  workers.push_back(worker_a(b_to_a, a_to_b));
  workers.push_back(worker_b(a_to_b, b_to_a));
  co_await gen::multi(std::move(workers));
}

Future<void> serve() {
  co_await handle_request();
}

int main() {
  IOLoop loop;
  loop.make_current();
  Future<void> server = serve();
  Future<void> beat = heartbeat();
  loop.call_later(100ms, [&] {
    std::cout << "-- coroutines still suspended after 100 ms:\n";
    gen::dump_coroutines(std::cout, loop);
    loop.stop();
  });
  loop.start();
  // Cancels the deadlocked coroutines and lets them unwind, then closes.
  loop.shutdown();
  return 0;
}
