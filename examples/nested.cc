// The document's nested-coroutine section: a parent awaits a child
// coroutine's future; the child gives the loop one iteration (gen::moment)
// and returns its value with co_return (Tornado's `raise gen.Return`), which
// completes the child's future and so resumes the parent.
//
// Meanwhile a plain callback runs on the loop, showing where the parent was
// suspended. Output, in order:
//   parent: calling child
//   child: started, yielding to the loop
//   parent: child returned a future (done=0), awaiting it
//   loop: a callback runs while both coroutines are suspended
//   child: resumed, returning 21
//   parent: child's result is 21
//   parent: returning 42

#include <cstdio>

#include "tornado/future/future.h"
#include "tornado/gen/gen.h"
#include "tornado/ioloop/ioloop.h"

using tornado::Future;
using tornado::IOLoop;

Future<int> child() {
  std::printf("child: started, yielding to the loop\n");
  co_await tornado::gen::moment;
  std::printf("child: resumed, returning 21\n");
  co_return 21;  // raise gen.Return(21)
}

Future<int> parent() {
  std::printf("parent: calling child\n");
  Future<int> f = child();
  std::printf("parent: child returned a future (done=%d), awaiting it\n",
              f.done() ? 1 : 0);
  int value = co_await f;  // value = yield child()
  std::printf("parent: child's result is %d\n", value);
  std::printf("parent: returning %d\n", value * 2);
  co_return value * 2;
}

int main() {
  IOLoop loop;
  int result = loop.run_sync([&] {
    // Queued first, so it runs in the iteration that also resumes the
    // child, before it.
    loop.add_callback([] {
      std::printf("loop: a callback runs while both coroutines are suspended\n");
    });
    return parent();
  });
  loop.shutdown();  // cancels and unwinds whatever is still suspended
  return result == 42 ? 0 : 1;
}
