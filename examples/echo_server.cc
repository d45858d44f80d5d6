// A line echo server: one coroutine per connection.
//
//   ./bazelw run //examples:echo_server -- --port=8888
//
// Listens on 127.0.0.1 (pass --address= for another, "" for all).

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tornado/gen/gen.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/net/iostream.h"
#include "tornado/net/tcpserver.h"

using tornado::Future;
using tornado::IOStream;

Future<void> echo(IOStream stream, std::string address) {
  std::printf("connection from %s\n", address.c_str());
  std::fflush(stdout);
  try {
    for (;;) {
      std::string line = co_await stream.read_until("\n", 64 * 1024);
      co_await stream.write(std::move(line));
    }
  } catch (const tornado::StreamClosedError&) {
    std::printf("%s closed\n", address.c_str());
    std::fflush(stdout);
  }
}

int main(int argc, char** argv) {
  int port = 8888;
  std::string address = "127.0.0.1";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--port=", 7) == 0) {
      port = std::atoi(argv[i] + 7);
    } else if (std::strncmp(argv[i], "--address=", 10) == 0) {
      address = argv[i] + 10;
    } else {
      std::fprintf(stderr, "usage: %s [--port=8888] [--address=127.0.0.1]\n",
                   argv[0]);
      return 2;
    }
  }
  tornado::IOLoop loop;
  loop.make_current();
  tornado::TCPServer server(echo, &loop);
  server.listen(port, address);
  std::printf("echo server listening on %s:%d\n", address.c_str(), server.port());
  std::fflush(stdout);
  loop.start();
}
