// A request handler with a deadline that fans out to three backends, takes
// the first reply and cancels the stragglers: the worked example of
// cancellation and structured concurrency (README, docs/guide.md).
//
//   bazel run //examples:deadline_fanout
//
// The backends are simulated with gen::sleep; each logs how it ends, so
// the output shows that nothing is left running: every straggler is
// cancelled and has finished (its catch block ran) before the handler
// returns.

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "tornado/gen/gen.h"
#include "tornado/ioloop/ioloop.h"

using namespace std::chrono_literals;
using tornado::CancelledError;
using tornado::Future;
using tornado::IOLoop;
using tornado::TimeoutError;
namespace gen = tornado::gen;

// One backend call: replies after `latency`, unless cancelled first.
Future<std::string> query(std::string backend, std::chrono::milliseconds latency) {
  try {
    co_await gen::sleep(latency);
  } catch (const CancelledError&) {
    std::printf("  %s: cancelled, connection released\n", backend.c_str());
    throw;  // let the cancellation finish the call
  }
  std::printf("  %s: replied\n", backend.c_str());
  co_return backend + " says hello";
}

// The first successful reply among `calls`.
Future<std::string> first_reply(const std::vector<Future<std::string>>& calls) {
  Future<std::string> first;
  for (const Future<std::string>& call : calls) {
    Future<std::string>(call).add_done_callback([first](Future<std::string> f) mutable {
      if (!first.done() && !f.cancelled() && !f.exception()) first.set_result(f.result());
    });
  }
  return first;
}

Future<std::string> handle_request(std::chrono::milliseconds deadline) {
  gen::TaskGroup group;  // owns the fan-out: nothing outlives this scope
  std::vector<Future<std::string>> calls{
      group.spawn(query("eu-backend", 300ms)),
      group.spawn(query("us-backend", 100ms)),
      group.spawn(query("ap-backend", 500ms)),
  };
  std::string reply;
  bool timed_out = false;
  try {
    // wait_for cancels the race when the deadline passes.
    reply = co_await gen::wait_for(deadline, first_reply(calls));
  } catch (const TimeoutError&) {
    timed_out = true;
  }
  // Cancel the stragglers and wait until they have finished: their
  // cleanup has run when join() completes. (A cancelled child is not a
  // failure; a failed one would be rethrown here.)
  for (Future<std::string>& call : calls) call.cancel();
  co_await group.join();
  if (timed_out) throw TimeoutError("no backend replied in time");
  co_return reply;
}

int main() {
  IOLoop loop;
  for (auto deadline : {1000ms, 10ms}) {
    std::printf("request with a %d ms deadline:\n", static_cast<int>(deadline.count()));
    try {
      std::string reply = loop.run_sync([deadline] { return handle_request(deadline); });
      std::printf("  -> %s\n", reply.c_str());
    } catch (const TimeoutError& e) {
      std::printf("  -> timeout: %s\n", e.what());
    }
  }
  loop.shutdown();
  return 0;
}
