#!/bin/bash
# Cold builds end to end against tar | gzip -6 + SHA-256 (see cold_build.pl).
set -euo pipefail
exec perl "$(dirname "$0")/cold_build.pl" "$@"
