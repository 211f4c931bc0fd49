#!/bin/bash
# `make run`: redis-server, one nixery-helper and nginx with the module, in
# the foreground, all state under $STATE. Ctrl-C or SIGTERM stops all three.
#
# Environment (set by the Makefile): ROOT (the checkout), BUILD, STATE,
# PORT, NIXERY_PKGS_PATH (the package set; default: the bundled one).
set -euo pipefail

ROOT=${ROOT:?} BUILD=${BUILD:?} STATE=${STATE:?} PORT=${PORT:-8080}
HELPER=$BUILD/cmake/helper/nixery-helper
MODULE=$BUILD/nginx/ngx_http_nixery_module.so
PKGS=${NIXERY_PKGS_PATH:-$ROOT/nix/pkgs}
export NIX_CONFIG=${NIX_CONFIG:-$'sandbox = false\nbuild-users-group =\nsubstituters =\n'}

mkdir -p "$STATE"/{storage,redis,nginx/logs,nginx/temp,www,gcroots}
STATE=$(cd "$STATE" && pwd)
SOCK=$STATE/redis/redis.sock

log() { printf 'make run: %s\n' "$*" >&2; }

pids=()
stop_all() {
    trap - INT TERM EXIT
    log "stopping"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    log "stopped"
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

# The front page: the template with this registry's address and source.
sed -e "s|@REGISTRY@|127.0.0.1:$PORT|g" \
    -e "s|@SOURCE@|the bundled package set (${PKGS//|/\\|})|g" \
    "$ROOT/www/index.html.in" > "$STATE/www/index.html"

log "starting redis-server on $SOCK"
redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 \
    --dir "$STATE/redis" --save 60 1 --appendonly no \
    --logfile "$STATE/redis/redis.log" --daemonize no &
pids+=($!)
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || { log "redis-server did not start"; exit 1; }

log "starting nixery-helper (package set: $PKGS)"
NIXERY_PKGS_PATH=$PKGS "$HELPER" --redis "unix:$SOCK" \
    --storage "$STATE/storage" --nix-dir "$ROOT/nix" \
    --gc-roots "$STATE/gcroots" \
    --popularity "$ROOT/nix/pkgs/popularity.json" &
pids+=($!)

# As root, nginx's workers would run as nobody, who cannot reach the Redis
# socket; `make run` is a development command, so keep the invoking user.
user_line=
[ "$(id -u)" = 0 ] && user_line="user root;"
sed -e "s|@PORT@|$PORT|g" -e "s|@STATE@|$STATE|g" -e "s|@USER@|$user_line|" \
    -e "s|@MODULE@|$MODULE|g" -e "s|@SOCK@|$SOCK|g" \
    "$ROOT/conf/run.nginx.conf.in" > "$STATE/nginx/nginx.conf"
log "starting nginx on http://127.0.0.1:$PORT/"
/usr/sbin/nginx -p "$STATE/nginx/" -c "$STATE/nginx/nginx.conf" &
pids+=($!)

log "ready: podman pull --tls-verify=false 127.0.0.1:$PORT/shell/hello"
# Stop everything when any of the three exits.
wait -n "${pids[@]}" || true
log "a process exited"
exit 1
