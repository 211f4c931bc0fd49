#!/bin/bash
# 1,000 clients waiting on builds: memory per waiting request and Redis
# connections (see queue_wait.pl).
set -euo pipefail
ulimit -n 8192
exec perl "$(dirname "$0")/queue_wait.pl"
