#!/bin/bash
# 1,000 distinct uncached names at once, again and again, while cached pulls
# are timed: the queue's back-pressure (nixery_queue_max_length) and the
# cached pull rate during the flood against without it (see flood_names.pl).
set -euo pipefail
ulimit -n "$(ulimit -Hn)"
exec perl "$(dirname "$0")/flood_names.pl"
