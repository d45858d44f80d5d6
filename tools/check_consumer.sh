#!/usr/bin/env bash
# Uses this repository from other workspaces, as a user would:
#  1. a fresh workspace made only of the README's snippets ("Use it from
#     your project": WORKSPACE, BUILD, .bazelrc, main_test.cc, and the
#     twenty-line main.cc), naming this repository `tornado`, with a
#     logging/logging.h of its own beside ours;
#  2. examples/consumer, committed, which depends on //future and //ioloop
#     only and must not pull //gen.
# Each is built, tested and run. CI runs this.
set -u
cd "$(dirname "$0")/.."
repo=$(pwd)
bazelw="$repo/bazelw"
status=0

# ---- 1. the README's snippets ------------------------------------------------
ws=$(mktemp -d)
python3 - "$repo/README.md" "$ws" "$repo" <<'PY' || status=1
import pathlib, re, sys
readme, ws, repo = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
text = open(readme).read()
blocks = re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)
def block(first_line):
    for _, code in blocks:
        if code.startswith(first_line):
            return code
    sys.exit(f"README has no block starting with {first_line!r}")
(ws / "WORKSPACE").write_text(block("# WORKSPACE").replace("/path/to/tornado_cpp", repo))
(ws / "BUILD.bazel").write_text(block("# BUILD"))
(ws / ".bazelrc").write_text(block("# .bazelrc"))
(ws / "main_test.cc").write_text(block("// main_test.cc"))
section = text[text.index("## A coroutine in twenty lines"):]
(ws / "main.cc").write_text(re.search(r"```cpp\n(.*?)```", section, re.S).group(1))
(ws / "logging").mkdir()
(ws / "logging" / "logging.h").write_text(
    "// The user's own logging header (not tornado's).\n"
    "#pragma once\nnamespace app_logging { inline int level() { return 0; } }\n")
PY
if [ $status -eq 0 ]; then
  (
    cd "$ws" || exit 1
    rc=0
    "$bazelw" test //:all || rc=1
    out=$("$bazelw" run //:main 2>/dev/null) || rc=1
    if [[ "$out" != "2+3=5" ]]; then
      echo "FAIL: the README's main printed: $out"; rc=1
    else
      echo "ok: a workspace made of the README's snippets builds, tests and runs"
    fi
    "$bazelw" shutdown
    exit $rc
  ) || status=1
fi
rm -rf "$ws"

# ---- 2. examples/consumer ---------------------------------------------------
cd examples/consumer
$bazelw test //:all || status=1
out=$($bazelw run //:main 2>/dev/null) || status=1
if [[ "$out" != "consumer got 42" ]]; then
  echo "FAIL: consumer main printed: $out"; status=1
fi
deps=$($bazelw query 'deps(//:main)' 2>/dev/null)
if grep -q '^@tornado//gen' <<<"$deps"; then
  echo "FAIL: //:main pulls @tornado//gen"; status=1
elif ! grep -q '^@tornado//ioloop' <<<"$deps"; then
  echo "FAIL: the query does not see @tornado//ioloop (output format changed?)"; status=1
else
  echo "ok: consumer's //:main does not pull @tornado//gen"
fi
$bazelw shutdown
exit $status
