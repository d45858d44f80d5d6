#!/usr/bin/env bash
# Compiles the C++ blocks of the user-facing docs, so that no snippet
# rots. In a Markdown file, a ```cpp block is compiled at namespace scope
# (in order, so later blocks may use earlier ones), a ```cpp body block
# inside a function with `tornado::IOLoop& loop` in scope. Each file is
# one translation unit, after a prelude with every public header and the
# few names the docs use as placeholders (slow_query, use, asyn_sum).
# Needs only g++ and the Debian headers; run from anywhere.
set -u
cd "$(dirname "$0")/.."
CXX=${CXX:-g++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tools/tornado_include_dir.sh "$tmp"
status=0

for md in docs/guide.md docs/lifetimes.md; do
  out="$tmp/$(basename "$md" .md)_snippets.cc"
  python3 - "$md" "$out" <<'PY'
import re, sys
md, out = sys.argv[1], sys.argv[2]
text = open(md).read()
prelude = """#include <cstdio>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include "tornado/gen/gen.h"
#include "gtest/gtest.h"
#include "tornado/ioloop/ioloop.h"
#include "tornado/ioloop/periodic_callback.h"
#include "tornado/locks/locks.h"
#include "tornado/logging/logging.h"
#include "tornado/net/iostream.h"
#include "tornado/net/tcpclient.h"
#include "tornado/net/tcpserver.h"
#include "tornado/queues/queues.h"
#include "tornado/stack_context/stack_context.h"
#include "tornado/testing/async_test.h"
// Placeholders the docs use.
[[maybe_unused]] static int slow_query() { return 1; }
[[maybe_unused]] static void use(const std::string&) {}
tornado::Future<int> asyn_sum(int a, int b);
"""
parts = [prelude]
n = 0
for m in re.finditer(r"^( *)```cpp( body)?\n(.*?)^\1```", text, re.S | re.M):
    indent, body, code = m.group(1), m.group(2), m.group(3)
    code = "\n".join(l[len(indent):] if l.startswith(indent) else l for l in code.split("\n"))
    line = text[:m.start()].count("\n") + 2
    n += 1
    parts.append(f'#line {line} "{md}"')
    if body:
        parts.append(f"[[maybe_unused]] static void snippet_{n}(tornado::IOLoop& loop) {{\n{code}\n}}")
    else:
        parts.append(code)
open(out, "w").write("\n".join(parts) + "\n")
print(f"{md}: {n} blocks")
PY
  if "$CXX" -std=c++20 -fsyntax-only -Wall -I"$tmp/include" "$out"; then
    echo "ok: $md compiles"
  else
    echo "FAIL: a C++ block of $md does not compile (errors above)"
    status=1
  fi
done
exit $status
