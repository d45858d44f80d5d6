#include <chrono>
#include <cstdio>

#include "delayed.h"
#include "logging/logging.h"  // ours, not tornado's

int main() {
  tornado::IOLoop loop;
  int v = loop.run_sync(
      [&] { return delayed(loop, std::chrono::milliseconds(1), 42); });
  std::printf("%s got %d\n", consumer_logging::tag(), v);
  return v == 42 ? 0 : 1;
}
