#!/bin/bash
# The module's read path in user-space instructions per cached manifest GET,
# against the same nginx serving the same manifest as a static file, counted
# by callgrind: unlike req/s on this noisy 2-core machine, the counts repeat
# run to run. Prints static/module as a ratio (target >= 0.9), and what
# counting costs (the module with a `nixery_status prometheus` location
# against without: metrics on vs off). Kernel work
# (the same syscalls on both paths) is not counted. Run by `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec perl bench/module_instructions.pl "$@"
