#!/usr/bin/env python3
"""Rewrites our own includes to the `tornado/` prefix (idempotent).

`#include "future/future.h"` -> `#include "tornado/future/future.h"` for
every header of this repository's libraries, in sources, docs and the
checking scripts. Kept for merging older branches: run it after a merge.
"""
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIBS = "stack_context|future|ioloop|gen|logging|net|testing"
PATTERN = re.compile(r'#include "(?:%s)/' % LIBS)

files = subprocess.run(["git", "ls-files", "*.h", "*.cc", "*.md", "*.sh"],
                       cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
for name in files:
    if name.startswith(("benchmarks/peers/", "docs/seed/", "docs/perf/", "examples/consumer/")):
        continue
    path = ROOT / name
    text = path.read_text()
    new = PATTERN.sub(lambda m: m.group(0).replace('#include "', '#include "tornado/'), text)
    if new != text:
        path.write_text(new)
        print("rewrote", name)
