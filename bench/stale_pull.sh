#!/bin/bash
# The pull of an expired image from a moving source, with real Nix (the
# bundled package set): waiting for its rebuild (nixery_stale_max 0, as
# before) against served stale while it is rebuilt in the background (see
# stale_pull.pl).
set -euo pipefail
exec perl "$(dirname "$0")/stale_pull.pl"
