// The module's side of the build queue: enqueue on an index miss, park the
// request, resume it when the helper announces the result.
//
// Each worker holds exactly two Redis connections whatever the number of
// waiting clients (redis_conn.h): a command connection that runs the
// enqueue script (queue_schema.h), and a subscriber connection on the
// channel where helpers announce results. Waiting requests are parked in a
// table keyed by the canonical key: one enqueue per key per worker, one
// timeout timer per request, no polling. A result resumes every request
// parked on its key: the read path serves it from storage again, or the
// client gets the build's error in the registry's JSON format. A client
// that goes away is unlinked by its request cleanup; a request is finalized
// exactly once. When Redis is unreachable, index misses get 503 at once and
// cached images are unaffected (they never reach this code). A job that
// cannot be sent, a refused job and a result that cannot be read end the
// waits on that image at once, with a log line naming its key. So does a
// full queue (nixery_queue_max_length, checked by the enqueue script in
// the same atomic step as the push): 429 with Retry-After, so that a flood
// of new names cannot grow the queue without bound.
//
// An expired image served stale (nixery_stale_max, serve.h) is rebuilt in
// the background: queue_refresh() sends the same enqueue script for it
// with no request parked, so the script's in-flight marker makes a flood
// of such pulls, on any number of workers and hosts, one job; each worker
// sends it at most once per key every few seconds.
//
// The directives are in queue_conf.c++; the client, in queue_client.h, is
// split into its waiting side (queue_waiters.c++) and its Redis side
// (queue_redis.c++).
#pragma once

#include "ngx/ngx.h"

#include "image_request.h"

#include <string_view>

namespace nixery {

// The queue's directives' values; lives in the module's main conf.
struct QueueConf {
    ngx_addr_t* redis;        // nullptr: no queue (misses are 404)
    ngx_msec_t wait_timeout;  // nixery_wait_timeout
    ngx_msec_t redis_timeout; // nixery_redis_timeout
    time_t retry_after;       // nixery_retry_after
    ngx_int_t max_length;     // nixery_queue_max_length (0: no limit)
    ngx_str_t auth_user;      // nixery_redis_auth (empty: no user name)
    ngx_str_t auth_password;  // nixery_redis_auth (empty: no AUTH)
    ngx_flag_t board;         // a nixery_builds location exists (builds.h)
};

// Set every field unset (create_main_conf) / apply the defaults
// (init_main_conf).
void queue_conf_create(QueueConf* conf) noexcept;
void queue_conf_init(QueueConf* conf) noexcept;

// The `nixery_redis ADDRESS` directive; `cmd->offset` is the offset of the
// QueueConf in the main conf. Accepts IP:port ([v6]:port) or unix:/path.
char* queue_set_redis(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept;

// The `nixery_redis_auth [USERNAME] PASSWORD` directive (same offset).
char* queue_set_redis_auth(ngx_conf_t* cf, ngx_command_t* cmd,
                           void* conf) noexcept;

// Per worker: connect (init_process) and disconnect (exit_process).
ngx_int_t queue_init_process(ngx_cycle_t* cycle,
                             const QueueConf* conf) noexcept;
void queue_exit_process(ngx_cycle_t* cycle) noexcept;

// On an index miss for `request`, whose canonical key is `key` (tag.h).
// Without `nixery_redis`, answers 404 MANIFEST_UNKNOWN naming the image.
// Otherwise either parks the request and returns NGX_DONE (the content
// handler returns that as is; the request is finalized later, from
// serve_from_index() or with an error), or sends an error now (queue
// unreachable) and returns the content handler's rc.
ngx_int_t queue_wait_for_image(ngx_http_request_t* r,
                               const ImageRequest& request,
                               std::string_view key) noexcept;

// Whether a build queue is configured (nixery_redis): only then is an
// expired image served stale, since only then can it be rebuilt.
bool queue_enabled() noexcept;

// `request` (canonical key `key`) was just served from an expired index
// entry: queue its rebuild without waiting for it. Does nothing when the
// queue is not connected (the next stale pull asks again), when this
// worker already waits for a build of it, or when it asked for the same
// key less than a few seconds ago. Never touches the request; logs what
// becomes of the job.
void queue_refresh(const ImageRequest& request, std::string_view key) noexcept;

} // namespace nixery
