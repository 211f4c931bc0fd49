#!/bin/bash
# `make run`: redis-server, one nixery-helper and nginx with the module, in
# the foreground, all state under $STATE. Ctrl-C, SIGTERM or SIGHUP stops
# all three, in order: nginx, then the helper, then Redis.
#
# Environment (set by the Makefile): ROOT (the checkout), BUILD (the build
# tree), STATE (all state; created), PORT (default 8080), METRICS_PORT
# (the helper's Prometheus metrics on 127.0.0.1; default PORT + 1; nginx's
# are on PORT at /metrics). The package source
# is Nixery's: NIXERY_CHANNEL, NIXERY_PKGS_REPO or NIXERY_PKGS_PATH; when
# none is set, the bundled package set ($ROOT/nix/pkgs). Extra helper flags
# may be given in NIXERY_HELPER_FLAGS (e.g. "--concurrency 2"). Images are
# built for NIXERY_PLATFORMS, here linux/amd64,linux/arm64 unless set, so
# that every name is an image index (the helper's own default is amd64
# only, as for deployments from before image indexes).
#
# Images go to $STATE/storage unless NIXERY_STORAGE_BACKEND is s3 or gcs
# (with Nixery's variables: S3_BUCKET, AWS_REGION, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_ENDPOINT_URL; GCS_BUCKET,
# GOOGLE_APPLICATION_CREDENTIALS; NIXERY_BUCKET_BLOBS=redirect|proxy): the
# helper reads them from its environment, and nginx gets the same bucket
# (bucket_conf below), with $STATE/storage as its local cache. Secrets go
# into a file only root can read, never onto a command line or into
# nginx.conf.
#
# $STATE holds storage/ (images), logs/ (error.log, access.log, helper.log,
# redis.log), redis/ (the socket), nginx/ (config, pid, temp files), www/
# (the front page and the build page), tmp/ (the helper's GC roots) and
# pids/ (one file per process, for tests and scripts).
# shellcheck disable=SC2317 # stop_all and signal_and_wait run from traps
set -euo pipefail

ROOT=${ROOT:?} BUILD=${BUILD:?} STATE=${STATE:?} PORT=${PORT:-8080}
METRICS_PORT=${METRICS_PORT:-}
HELPER=$BUILD/cmake/helper/nixery-helper
MODULE=$BUILD/nginx/ngx_http_nixery_module.so
export NIX_CONFIG=${NIX_CONFIG:-$'sandbox = false\nbuild-users-group =\nsubstituters =\n'}
if [ -z "${NIXERY_CHANNEL:-}${NIXERY_PKGS_REPO:-}${NIXERY_PKGS_PATH:-}" ]; then
    export NIXERY_PKGS_PATH=$ROOT/nix/pkgs
fi

log() { printf 'make run: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

for f in "$HELPER" "$MODULE"; do
    [ -e "$f" ] || die "$f is missing: run \`make\` first"
done
case $PORT in
    '' | *[!0-9]*) die "PORT must be a number, not '$PORT'" ;;
esac
METRICS_PORT=${METRICS_PORT:-$((PORT + 1))}
case $METRICS_PORT in
    *[!0-9]*) die "METRICS_PORT must be a number, not '$METRICS_PORT'" ;;
esac

mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
mkdir -p "$STATE"/{storage,logs,redis,nginx/temp,www,tmp,pids}
SOCK=$STATE/redis/redis.sock

# One `make run` per state directory. The children inherit the lock, so
# leftovers of a killed run hold it too.
exec 9> "$STATE/run.lock"
flock -n 9 || die "another \`make run\` (or its leftover processes) uses $STATE"
rm -f "$STATE"/pids/*.pid "$SOCK"

declare -A pids=()

# Sends $2 to the process named $1 and waits up to $3 seconds for it to end.
# Returns 1 if it is still running then.
signal_and_wait() {
    local name=$1 sig=$2 secs=$3 pid=${pids[$1]:-} i state
    [ -n "$pid" ] || return 0
    kill -s "$sig" "$pid" 2> /dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
        state=$(awk '{ print $3 }' "/proc/$pid/stat" 2> /dev/null) || break
        [ "$state" = Z ] && break
        sleep 0.1
    done
    if [ -n "$state" ] && [ "$state" != Z ] && kill -0 "$pid" 2> /dev/null; then
        return 1
    fi
    wait "$pid" 2> /dev/null || true
    unset "pids[$name]"
    rm -f "$STATE/pids/$name.pid"
}

stopping=
stop_all() {
    [ -n "$stopping" ] && return
    stopping=1
    log "stopping"
    signal_and_wait nginx TERM 10 || signal_and_wait nginx KILL 5 || true
    # The helper finishes the builds it holds; a second signal hands them
    # back to the queue at once.
    if ! signal_and_wait helper TERM 10; then
        log "the helper is still building: handing its jobs back"
        signal_and_wait helper TERM 10 || signal_and_wait helper KILL 5 || true
    fi
    signal_and_wait redis TERM 10 || signal_and_wait redis KILL 5 || true
    wait 2> /dev/null || true # the log tee
    log "stopped"
}
trap 'stop_all; exit 0' INT TERM HUP
trap stop_all EXIT

# Each child gets its own session: Ctrl-C in the terminal reaches only this
# script, which stops them in order (nginx first, Redis last, so the helper
# can still hand jobs back).
start() {
    local name=$1
    shift
    setsid "$@" &
    pids[$name]=$!
    echo "$!" > "$STATE/pids/$name.pid"
}

if (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null; then
    die "127.0.0.1:$PORT is in use: choose another port (make run PORT=...)"
fi
if (exec 3<> "/dev/tcp/127.0.0.1/$METRICS_PORT") 2> /dev/null; then
    die "127.0.0.1:$METRICS_PORT is in use: choose another port (make run METRICS_PORT=...)"
fi

"$ROOT/scripts/render-site.sh" "127.0.0.1:$PORT" > "$STATE/www/index.html"
# The build page, which reads /nixery-builds (nixery_builds).
cp "$ROOT/www/builds.html" "$STATE/www/builds.html"

# Writes bucket-http.conf and bucket-server.conf for nginx (empty for the
# filesystem), and the credentials file nginx reads.
bucket_conf() {
    local http=$STATE/nginx/bucket-http.conf
    local server=$STATE/nginx/bucket-server.conf
    local creds=$STATE/nginx/bucket.credentials kind bucket endpoint='' ns
    : > "$http"
    : > "$server"
    rm -f "$creds"
    case ${NIXERY_STORAGE_BACKEND:-filesystem} in
        filesystem) return 0 ;;
        s3)
            kind=s3 bucket=${S3_BUCKET:-}
            [ -n "${AWS_ACCESS_KEY_ID:-}" ] || die "AWS_ACCESS_KEY_ID is not set"
            [ -n "${AWS_SECRET_ACCESS_KEY:-}" ] || die "AWS_SECRET_ACCESS_KEY is not set"
            (
                umask 077
                printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' \
                    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$creds"
                if [ -n "${AWS_SESSION_TOKEN:-}" ]; then
                    printf 'AWS_SESSION_TOKEN=%s\n' "$AWS_SESSION_TOKEN" >> "$creds"
                fi
            )
            endpoint=${AWS_ENDPOINT_URL:-}
            ;;
        gcs)
            kind=gcs bucket=${GCS_BUCKET:-}
            creds=${GOOGLE_APPLICATION_CREDENTIALS:-}
            [ -r "$creds" ] || die "GOOGLE_APPLICATION_CREDENTIALS is not a readable key file"
            ;;
        *) die "NIXERY_STORAGE_BACKEND must be filesystem, s3 or gcs, not '$NIXERY_STORAGE_BACKEND'" ;;
    esac
    case $bucket in
        '' | *[!a-z0-9._-]*) die "not a bucket name: '$bucket' (S3_BUCKET or GCS_BUCKET)" ;;
    esac
    case $endpoint in
        *[!A-Za-z0-9.:/_-]*) die "not an endpoint URL: '$endpoint' (AWS_ENDPOINT_URL)" ;;
    esac
    {
        printf 'nixery_bucket %s %s' "$kind" "$bucket"
        [ -n "$endpoint" ] && printf ' endpoint=%s' "$endpoint"
        [ "$kind" = s3 ] && printf ' region=%s' "${AWS_REGION:-us-east-1}"
        printf ';\nnixery_bucket_credentials %s;\n' "$creds"
        printf 'nixery_bucket_blobs %s;\n' "${NIXERY_BUCKET_BLOBS:-redirect}"
        printf 'proxy_cache_path %s levels=1:2 keys_zone=nixery_bucket:10m' \
            "$STATE/nginx/bucket-cache"
        printf ' max_size=10g inactive=30d use_temp_path=off;\n'
        # A bucket endpoint given by name needs nginx's resolver.
        ns=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf 2> /dev/null || true)
        [ -n "$ns" ] && printf 'resolver %s;\n' "$ns"
    } > "$http"
    cat > "$server" << 'CONF'
# How nginx reaches the bucket (docs/directives.md, nixery_bucket).
location /_nixery/bucket/ {
    internal;
    proxy_pass $nixery_bucket_url;
    proxy_pass_request_headers off;
    proxy_pass_request_body off;
    proxy_connect_timeout 5s;
    proxy_read_timeout 30s;
    subrequest_output_buffer_size 256k;
    location /_nixery/bucket/blobs/ {
        proxy_pass $nixery_bucket_url;
        proxy_cache nixery_bucket;
        proxy_cache_key $nixery_bucket_key;
        proxy_cache_valid 200 30d;
        proxy_cache_lock on;
    }
}
CONF
    log "images in the $kind bucket $bucket${endpoint:+ at $endpoint}"
}
bucket_conf

log "starting redis-server on $SOCK"
start redis redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 \
    --dir "$STATE/redis" --save '' --appendonly no \
    --logfile "$STATE/logs/redis.log" --daemonize no
for _ in $(seq 200); do
    redis-cli -s "$SOCK" PING 2> /dev/null | grep -q PONG && break
    kill -0 "${pids[redis]}" 2> /dev/null || die "redis-server exited: see $STATE/logs/redis.log"
    sleep 0.05
done

source_text=${NIXERY_CHANNEL:+channel $NIXERY_CHANNEL}
source_text=${source_text:-${NIXERY_PKGS_REPO:+git repository $NIXERY_PKGS_REPO}}
source_text=${source_text:-path $NIXERY_PKGS_PATH}
export NIXERY_PLATFORMS=${NIXERY_PLATFORMS:-linux/amd64,linux/arm64}
log "starting nixery-helper ($source_text; platforms $NIXERY_PLATFORMS)"
# Its JSON log lines go to logs/helper.log and to the terminal; tee ignores
# the terminal's SIGINT so that the helper's last lines are kept.
# shellcheck disable=SC2086 # NIXERY_HELPER_FLAGS is a list of flags
# A bucket is named by the environment (bucket_conf); a directory by a flag.
storage_flags=(--storage "$STATE/storage")
case ${NIXERY_STORAGE_BACKEND:-filesystem} in
    filesystem) ;;
    *) storage_flags=() ;;
esac
TMPDIR=$STATE/tmp start helper "$HELPER" --redis "unix:$SOCK" \
    "${storage_flags[@]}" --nix-dir "$ROOT/nix" \
    --popularity "$ROOT/nix/popularity.json" \
    --metrics-listen "127.0.0.1:$METRICS_PORT" ${NIXERY_HELPER_FLAGS:-} \
    2> >(tee -i -a "$STATE/logs/helper.log" >&2)

# As root, nginx's workers would run as nobody, who can reach neither the
# Redis socket nor $STATE; `make run` is a development command, so they
# keep the invoking user.
user_line=
[ "$(id -u)" = 0 ] && user_line="user root;"
# Which tags exist (docs/directives.md, nixery_tags): a git source has its
# branches and commits, a channel or a path `latest` only.
tags=latest
[ -z "${NIXERY_CHANNEL:-}" ] && [ -n "${NIXERY_PKGS_REPO:-}" ] && tags=git
sed -e "s|@PORT@|$PORT|g" -e "s|@STATE@|$STATE|g" -e "s|@USER@|$user_line|" \
    -e "s|@MODULE@|$MODULE|g" -e "s|@SOCK@|$SOCK|g" -e "s|@TAGS@|$tags|g" \
    "$ROOT/conf/run.nginx.conf.in" > "$STATE/nginx/nginx.conf"
log "starting nginx on http://127.0.0.1:$PORT/"
start nginx /usr/sbin/nginx -p "$STATE/nginx/" -c "$STATE/nginx/nginx.conf"

for _ in $(seq 200); do
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/v2/" && break
    kill -0 "${pids[nginx]}" 2> /dev/null || die "nginx exited: see $STATE/logs/error.log"
    sleep 0.05
done
log "ready: podman pull --tls-verify=false 127.0.0.1:$PORT/shell/git/htop"
log "      front page: http://127.0.0.1:$PORT/   logs: $STATE/logs/"
log "      metrics: http://127.0.0.1:$PORT/metrics (nginx), http://127.0.0.1:$METRICS_PORT/metrics (helper)"

# Stop everything when any of the three exits.
wait -n "${pids[@]}" || true
for name in "${!pids[@]}"; do
    state=$(awk '{ print $3 }' "/proc/${pids[$name]}/stat" 2> /dev/null) || true
    if [ -z "$state" ] || [ "$state" = Z ]; then
        log "$name exited"
    fi
done
exit 1
