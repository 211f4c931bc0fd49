#!/bin/bash
# The module's read path in user-space instructions per cached manifest GET,
# against the same nginx serving the same manifest as a static file, counted
# by callgrind: unlike req/s on this noisy 2-core machine, the counts repeat
# run to run. Prints static/module as a ratio (target >= 0.9). Kernel work
# (the same syscalls on both paths) is not counted. Run by `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec perl bench/module_instructions.pl "$@"
