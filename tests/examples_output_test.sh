#!/usr/bin/env bash
# The examples' stdout, checked line for line.
set -euo pipefail

fail=0
check() {
  local name=$1 expected=$2 actual
  actual=$($name) || { echo "FAIL: $name exited $?"; fail=1; return; }
  if [[ "$actual" != "$expected" ]]; then
    echo "FAIL: $name printed:"; echo "$actual"; echo "expected:"; echo "$expected"
    fail=1
  else
    echo "ok: $name"
  fi
}

bin=examples
check "$bin/asyn_sum" "begin calculate:sum 2+3
calculating the sum of 2+3:
after yielded
the 2+3=5"

check "$bin/nested" "parent: calling child
child: started, yielding to the loop
parent: child returned a future (done=0), awaiting it
loop: a callback runs while both coroutines are suspended
child: resumed, returning 21
parent: child's result is 21
parent: returning 42"

check "$bin/readme_example" "2+3=5"

check "$bin/deadline_fanout" "request with a 1000 ms deadline:
  us-backend: replied
  eu-backend: cancelled, connection released
  ap-backend: cancelled, connection released
  -> us-backend says hello
request with a 10 ms deadline:
  eu-backend: cancelled, connection released
  us-backend: cancelled, connection released
  ap-backend: cancelled, connection released
  -> timeout: no backend replied in time"

check "$bin/crawler" "crawling http://site.test/ with 10 workers, at most 3 fetches at a time, 150 ms per page
fetched 96 pages, 4 timed out: page/100 page/34 page/40 page/91
every URL seen was fetched or timed out, once: yes
concurrent fetches never above 3: yes"

hang=$("$bin/hang" | sed -E 's/ for [0-9]+ ms$//')
check_hang_expected="-- coroutines still suspended after 100 ms:
serve at examples/hang.cc:50 awaiting coroutine
  handle_request at examples/hang.cc:46 awaiting multi
    worker_a at examples/hang.cc:26 awaiting future
    worker_b at examples/hang.cc:32 awaiting future
heartbeat at examples/hang.cc:38 awaiting sleep"
if [[ "$hang" != "$check_hang_expected" ]]; then
  echo "FAIL: hang printed:"; echo "$hang"; fail=1
else
  echo "ok: examples/hang"
fi

# The README's exception-chain sample is what examples/exception_chain
# logs, line for line (so its file:line references cannot go stale).
readme_chain=$(sed -n '/^\[tornado ERROR\] Future exception was never retrieved: std::runtime_error: deep failure$/,/^```$/p' README.md | sed '$d')
actual_chain=$("$bin/exception_chain" 2>&1 >/dev/null)
if [[ -z "$readme_chain" || "$actual_chain" != "$readme_chain" ]]; then
  echo "FAIL: README's exception chain sample:"; echo "$readme_chain"
  echo "examples/exception_chain logs:"; echo "$actual_chain"; fail=1
else
  echo "ok: README exception chain sample"
fi

trace=$("$bin/asyn_sum" --trace | grep '^--' | tr '\n' ' ')
expected_trace="-- add_callback -- handle_yield -- add_future -- inner -- run "
if [[ "$trace" != "$expected_trace" ]]; then
  echo "FAIL: asyn_sum --trace steps: $trace"; fail=1
else
  echo "ok: asyn_sum --trace"
fi
# The echo pair, on a free port chosen by the server.
"$bin/echo_server" --port=0 > "$TEST_TMPDIR/server.out" &
server=$!
for _ in $(seq 50); do
  grep -q listening "$TEST_TMPDIR/server.out" && break
  sleep 0.1
done
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\)/\1/p' "$TEST_TMPDIR/server.out")
check "$bin/echo_client --port=$port hello world" "hello
world"
kill "$server"; wait "$server" 2>/dev/null || true

# Piped to a reader that goes away after the first line (`| head -1`), the
# server keeps serving: no per-connection stdout writes (which would block
# the loop, then raise SIGPIPE), and SIGPIPE is ignored. With --verbose too
# (its lines go to stderr, here the same closed pipe).
for flags in "" "--verbose"; do
  fifo="$TEST_TMPDIR/echo.fifo"
  rm -f "$fifo"; mkfifo "$fifo"
  head -1 < "$fifo" > "$TEST_TMPDIR/head.out" &
  reader=$!
  # shellcheck disable=SC2086
  "$bin/echo_server" --port=0 $flags > "$fifo" 2>&1 &
  server=$!
  wait "$reader"  # the pipe's reader is gone: writes to it fail now
  port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\)/\1/p' "$TEST_TMPDIR/head.out")
  for i in 1 2 3; do
    out=$("$bin/echo_client" --port="$port" "line$i" 2>&1) || true
    if [[ "$out" != "line$i" ]]; then
      echo "FAIL: echo_server $flags piped to head: client $i got: $out"; fail=1
      break
    fi
  done
  if kill -0 "$server" 2>/dev/null; then
    echo "ok: echo_server $flags survives its stdout reader leaving"
    kill "$server"
  else
    echo "FAIL: echo_server $flags died with its stdout reader gone"; fail=1
  fi
  wait "$server" 2>/dev/null || true
done
exit $fail
