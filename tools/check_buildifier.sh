#!/usr/bin/env bash
# BUILD, .bzl and WORKSPACE files are buildifier-clean (format and lint).
# buildifier comes from npm (@bazel/buildifier), installed once into a
# cache directory. `tools/check_buildifier.sh --fix` rewrites the files.
set -u
cd "$(dirname "$0")/.."
cache="${HOME:-/root}/.cache/tornado-buildifier"
bin="$cache/node_modules/.bin/buildifier"
if [ ! -x "$bin" ]; then
  mkdir -p "$cache"
  (cd "$cache" && npm install --silent --no-audit --no-fund @bazel/buildifier >/dev/null 2>&1) || {
    echo "check_buildifier: could not install @bazel/buildifier from npm"; exit 1; }
fi
mapfile -t files < <(git ls-files 'WORKSPACE' '*/WORKSPACE' 'BUILD.bazel' '*/BUILD.bazel' '*.bzl' '*.BUILD')
if [ "${1:-}" = "--fix" ]; then
  "$bin" -mode=fix -lint=fix "${files[@]}"
  exit $?
fi
if "$bin" -mode=check -lint=warn "${files[@]}"; then
  echo "ok: ${#files[@]} Bazel files are buildifier-clean"
else
  echo "FAIL: run tools/check_buildifier.sh --fix"
  exit 1
fi
