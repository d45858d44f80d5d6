// A line echo server: one coroutine per connection.
//
//   ./bazelw run //examples:echo_server -- --port=8888 [--verbose]
//
// Listens on 127.0.0.1 (pass --address= for another, "" for all).
//
// Good practice for a server on one loop thread:
// - Nothing blocking per connection: stdout may be a pipe or a terminal
//   that stops reading, and a blocked printf stalls every connection. The
//   only line printed by default is the startup one; --verbose logs
//   connections (to stderr, for debugging only: still a blocking write).
// - SIGPIPE is ignored: writing to a closed pipe (`echo_server | head`)
//   must be an error, not the death of the server. (IOStream's sockets
//   already send with MSG_NOSIGNAL.)

#include <csignal>
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

namespace {
bool verbose = false;
}  // namespace

Future<void> echo(IOStream stream, std::string address) {
  if (verbose) std::fprintf(stderr, "connection from %s\n", address.c_str());
  try {
    for (;;) {
      std::string line = co_await stream.read_until("\n", 64 * 1024);
      co_await stream.write(std::move(line));
    }
  } catch (const tornado::StreamClosedError&) {
    if (verbose) std::fprintf(stderr, "%s closed\n", address.c_str());
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
    } else if (std::strcmp(argv[i], "--verbose") == 0) {
      verbose = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--port=8888] [--address=127.0.0.1] [--verbose]\n",
                   argv[0]);
      return 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  tornado::IOLoop loop;
  loop.make_current();
  tornado::TCPServer server(echo, &loop);
  server.listen(port, address);
  std::printf("echo server listening on %s:%d\n", address.c_str(), server.port());
  std::fflush(stdout);
  loop.start();
}
