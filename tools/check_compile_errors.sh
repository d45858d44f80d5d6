#!/usr/bin/env bash
# Guardrails that are compile errors: each snippet must fail to compile
# with a message that says what to do (not an error deep in a template),
# and each "fine" snippet must compile. Run from the repository root (CI
# does); needs only g++ and the Debian Abseil headers.
set -u
cd "$(dirname "$0")/.."
CXX=${CXX:-g++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tools/tornado_include_dir.sh "$tmp"
status=0

compile() {  # compile <file>: syntax-only, our flags (warnings are errors)
  "$CXX" -std=c++20 -fsyntax-only -Wall -Wextra -Werror -I"$tmp/include" "$1" 2>&1
}

# expect_error <name> <expected message fragment> <code>
expect_error() {
  local name=$1 want=$2 code=$3
  printf '%s\n' "$code" > "$tmp/$name.cc"
  local out
  if out=$(compile "$tmp/$name.cc"); then
    echo "FAIL $name: compiled, expected an error containing: $want"
    status=1
  elif ! grep -qF -- "$want" <<<"$out"; then
    echo "FAIL $name: the error does not say: $want"
    echo "$out" | head -20
    status=1
  else
    echo "ok   $name"
  fi
}

# expect_ok <name> <code>
expect_ok() {
  local name=$1 code=$2
  printf '%s\n' "$code" > "$tmp/$name.cc"
  local out
  if ! out=$(compile "$tmp/$name.cc"); then
    echo "FAIL $name: did not compile"
    echo "$out" | head -20
    status=1
  else
    echo "ok   $name"
  fi
}

expect_error co_await_int "co_await in a tornado coroutine takes a tornado::Future<T>" '
#include "tornado/gen/gen.h"
tornado::Future<int> f() { int x = co_await 42; co_return x; }'

expect_error run_sync_not_callable "IOLoop::run_sync: pass a callable taking no arguments" '
#include "tornado/ioloop/ioloop.h"
int main() { tornado::IOLoop loop; loop.run_sync(42); }'

expect_error dropped_future "nodiscard" '
#include "tornado/gen/gen.h"
tornado::Future<int> compute() { co_return 1; }
void caller() { compute(); }   // the coroutine future is dropped'

# Tornado's test_yield_lock / test_yield_sem: awaiting the lock itself
# instead of its acquire() or scoped().
expect_error co_await_lock "co_await in a tornado coroutine takes a tornado::Future<T>" '
#include "tornado/gen/gen.h"
#include "tornado/locks/locks.h"
tornado::Future<void> f(tornado::locks::Lock& lock) { co_await lock; }'

# Tornado's test_context_manager_misuse: a Guard comes only from scoped().
expect_error guard_without_scoped "private" '
#include "tornado/locks/locks.h"
void f(tornado::locks::Semaphore* s) { tornado::locks::Guard g(nullptr); (void)s; }'

expect_error guard_copy "deleted" '
#include "tornado/locks/locks.h"
#include "tornado/gen/gen.h"
tornado::Future<void> f(tornado::locks::Lock& lock) {
  auto g = co_await lock.scoped();
  auto copy = g;
}'

expect_ok locks_and_queues '
#include <memory>
#include "tornado/gen/gen.h"
#include "tornado/locks/locks.h"
#include "tornado/queues/queues.h"
tornado::Future<int> f(tornado::locks::Lock& lock, tornado::queues::Queue<std::unique_ptr<int>>& q) {
  auto guard = co_await lock.scoped();
  std::unique_ptr<int> p = co_await q.get();
  co_return *p;
}'

expect_ok spawn_callback_coroutine '
#include "tornado/gen/gen.h"
int main() {
  tornado::IOLoop loop;
  loop.spawn_callback([]() -> tornado::Future<void> { co_await tornado::gen::moment; });
  loop.add_callback([]() -> tornado::Future<int> { co_return 1; });
  loop.close();
}'

expect_ok run_sync_future '
#include "tornado/gen/gen.h"
tornado::Future<int> f() { co_return 1; }
int main() { tornado::IOLoop loop; return loop.run_sync(f()) == 1 ? 0 : 1; }'

exit $status
