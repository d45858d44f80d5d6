#!/usr/bin/env bash
# Builds and tests examples/consumer, a separate workspace depending on
# @tornado_cpp//future and @tornado_cpp//ioloop, as a user's would; and
# checks that depending on //future and //ioloop does not pull //gen.
set -u
cd "$(dirname "$0")/../examples/consumer"
bazelw=../../bazelw

status=0
$bazelw test //:all || status=1
out=$($bazelw run //:main 2>/dev/null) || status=1
if [[ "$out" != "consumer got 42" ]]; then
  echo "FAIL: consumer main printed: $out"; status=1
fi
deps=$($bazelw query 'deps(//:main)' 2>/dev/null)
if grep -q '^@tornado_cpp//gen' <<<"$deps"; then
  echo "FAIL: //:main pulls @tornado_cpp//gen"; status=1
else
  echo "ok: consumer's //:main does not pull @tornado_cpp//gen"
fi
$bazelw shutdown
exit $status
