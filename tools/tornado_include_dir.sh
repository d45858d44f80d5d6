# Sourced by the checking scripts that compile outside Bazel: makes
# "$1/include/tornado" a link to the repository root, so that our headers
# resolve as "tornado/<library>/..." (what Bazel's include_prefix gives).
# Usage: . tools/tornado_include_dir.sh "$tmp"; then -I"$tmp/include".
mkdir -p "$1/include"
ln -s "$(pwd)" "$1/include/tornado"
