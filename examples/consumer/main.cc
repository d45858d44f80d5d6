#include <chrono>
#include <cstdio>

#include "delayed.h"

int main() {
  tornado::IOLoop loop;
  int v = loop.run_sync(
      [&] { return delayed(loop, std::chrono::milliseconds(1), 42); });
  std::printf("consumer got %d\n", v);
  return v == 42 ? 0 : 1;
}
