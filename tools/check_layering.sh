#!/usr/bin/env bash
# Each library depends only on the libraries below it (bottom-up:
# stack_context and future, then ioloop, then gen, then locks and queues,
# then net), checked with
# `bazel query` since Bazel 4 has no layering_check for GCC.
set -u
cd "$(dirname "$0")/.."

status=0
check() {  # check TARGET FORBIDDEN...
  local target=$1; shift
  local deps
  deps=$(./bazelw query "deps($target)" 2>/dev/null) || { echo "query failed: $target"; return 1; }
  for f in "$@"; do
    if grep -qx "$f" <<<"$deps"; then
      echo "FAIL: $target depends on $f"
      status=1
    fi
  done
  echo "ok: $target depends on none of: $*"
}

# The query must see real edges, or every check above would pass vacuously.
require() {  # require TARGET DEP
  if ! ./bazelw query "deps($1)" 2>/dev/null | grep -qx "$2"; then
    echo "FAIL: $1 should depend on $2 (query output format changed?)"
    status=1
  fi
}
require //gen //ioloop:ioloop
require //ioloop //future:future
require //queues //locks:locks

check //stack_context //future:future //ioloop:ioloop //gen:gen
check //future //stack_context:stack_context //ioloop:ioloop //gen:gen
check //ioloop //gen:gen //locks:locks //queues:queues
check //gen //locks:locks //queues:queues
# //locks and //queues sit above //gen (they may use it), below //net.
check //locks //queues:queues //net:iostream //net:tcpserver //net:tcpclient
check //queues //net:iostream //net:tcpserver //net:tcpclient
check //net:iostream //gen:gen //net:tcpserver //net:tcpclient
check //net:tcpclient //gen:gen //net:tcpserver
check //net:tcpserver //gen:gen //net:tcpclient
exit $status
