// The include lines ../shared/API.md promises ("future/future.h", ...)
// resolve inside this workspace, beside the prefixed ones
// ("tornado/future/future.h") that consumers use: a test written against
// the API document compiles unchanged. Compiling is the test; main checks
// that the headers are the real ones.

#include "future/future.h"
#include "gen/gen.h"
#include "ioloop/ioloop.h"
#include "locks/locks.h"
#include "queues/queues.h"
#include "stack_context/stack_context.h"

int main() {
  tornado::Future<int> f;
  f.set_result(1);
  tornado::locks::Lock lock;
  tornado::queues::Queue<int> q;
  q.put_nowait(2);
  const bool locks_ok = lock.acquire().done() && lock.locked() && q.get_nowait() == 2;
  return f.result() == 1 && f.cancel() == false && locks_ok ? 0 : 1;
}
