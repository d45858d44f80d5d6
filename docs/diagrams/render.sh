#!/bin/sh
# Renders every *.dot beside this script to SVG with Graphviz (installed
# from Debian when missing).
set -eu
cd "$(dirname "$0")"
if ! command -v dot >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q --no-install-recommends graphviz >/dev/null
fi
for f in *.dot; do
  dot -Tsvg "$f" -o "${f%.dot}.svg"
  echo "rendered ${f%.dot}.svg"
done
