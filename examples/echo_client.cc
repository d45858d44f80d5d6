// Sends lines to the echo server and prints what comes back.
//
//   ./bazelw run //examples:echo_client -- --port=8888 hello world

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tornado/gen/gen.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/net/iostream.h"
#include "tornado/net/tcpclient.h"

using namespace std::chrono_literals;
using tornado::Future;
using tornado::IOStream;

Future<int> run(std::string host, int port, std::vector<std::string> lines) {
  IOStream stream = co_await tornado::TCPClient().connect(host, port, 2s);
  for (const std::string& line : lines) {
    co_await stream.write(line + "\n");
    std::string back = co_await stream.read_until("\n", 64 * 1024);
    std::printf("%s", back.c_str());
  }
  stream.close();
  co_return 0;
}

int main(int argc, char** argv) {
  int port = 8888;
  std::string host = "127.0.0.1";
  std::vector<std::string> lines;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--port=", 7) == 0) {
      port = std::atoi(argv[i] + 7);
    } else if (std::strncmp(argv[i], "--host=", 7) == 0) {
      host = argv[i] + 7;
    } else {
      lines.push_back(argv[i]);
    }
  }
  if (lines.empty()) lines.push_back("hello");
  tornado::IOLoop loop;
  loop.make_current();
  int rc = 1;
  try {
    rc = loop.run_sync([&] { return run(host, port, lines); }, 10s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_client: %s\n", e.what());
  }
  // Cancels what is still running (after a timeout: the client itself)
  // and lets it unwind before the loop closes.
  loop.shutdown();
  return rc;
}
