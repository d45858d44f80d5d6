#!/usr/bin/env bash
# W6/W6cb of two `workloads` binaries (opt builds of an old and a new
# commit, copied aside), interleaved in one session: each round starts the
# server, drives it with the peers' echo client (50 connections x 2,000
# round trips), and alternates which binary goes first.
# usage: w6_old_vs_new.sh OLD_BINARY NEW_BINARY [ROUNDS]
#   (the client: g++ -O2 -std=c++20 benchmarks/peers/echo_client.cpp -o /tmp/echo_client -pthread)
OLD=${1:?old workloads binary}
NEW=${2:?new workloads binary}
ROUNDS=${3:-5}
run_one() {  # bin w label
  local out port spid
  out=$(mktemp)
  "$1" "$2" 50 >"$out" 2>&1 &
  spid=$!
  for i in $(seq 200); do port=$(awk '/^PORT /{print $2; exit}' "$out"); [[ -n $port ]] && break; sleep 0.05; done
  res=$(/tmp/echo_client "$port" 50 2000 "$3" "$2" 2>&1 | grep '^RESULT')
  wait $spid
  echo "round $r $res"
  rm -f "$out"
}
for r in $(seq $ROUNDS); do
  for w in W6 W6cb; do
    if (( r % 2 )); then run_one $OLD $w old; run_one $NEW $w new; else run_one $NEW $w new; run_one $OLD $w old; fi
  done
done
