#!/bin/bash
# 10,000 clients waiting on builds at once (200 on each of 50 images):
# memory per waiting request and Redis connections, as queue_wait.sh
# measures at 1,000. Needs an fd per client in the bench and in the nginx
# worker: the soft limit is raised to the hard one here (at least 11,000
# needed), and the bench's nginx.conf raises the worker's.
set -euo pipefail
ulimit -n "$(ulimit -Hn)"
CLIENTS=${CLIENTS:-10000} exec perl "$(dirname "$0")/queue_wait.pl"
