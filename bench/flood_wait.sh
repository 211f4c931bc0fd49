#!/bin/bash
# 10,000 clients waiting on builds at once (200 on each of 50 images):
# memory per waiting request and Redis connections, as queue_wait.sh
# measures at 1,000. Needs 10,000 fds in the bench and 2 per client in the
# worker: the limit is raised here and in the bench's nginx.conf.
set -euo pipefail
ulimit -n 65536
CLIENTS=${CLIENTS:-10000} exec perl "$(dirname "$0")/queue_wait.pl"
