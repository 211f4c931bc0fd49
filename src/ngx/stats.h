// Registry counters shared by every worker, and `nixery_status`, which
// serves them as JSON (the default) or in Prometheus's text format:
//
//     {"tag_hits":..,"tag_misses":..,"waiting":..,"waited":..,"built":..,
//      "failed":..,"timed_out":..,"unavailable":..,"rejected":..,
//      "queue_full":..,"redis_workers":..,"tags_listed":..,
//      "tags_absent":..,"tags_unreadable":..,"tags_unavailable":..}
//
// The Prometheus rendering (`nixery_status prometheus;`) has the same
// counters under conventional names plus the registry's requests by route
// and its responses by status code (docs/operations.md, "Metrics").
//
// They live in one small shared memory zone ("nixery_status"), made when a
// `nixery_status` location is configured; without one, counting is a
// no-op. Lock-free atomics: workers never wait on each other. A reload
// keeps them (same zone); a restart starts from zero.
#pragma once

#include "ngx/ngx.h"

#include "routes.h"

#include <cstdint>

namespace nixery {

enum class Stat : unsigned {
    tag_hits,      // manifests by tag answered from storage at once
    tag_misses,    // manifests by tag that went to the build queue
    waiting,       // requests waiting for a build now (a gauge)
    waited,        // requests that waited for a build, in all
    built,         // waiting requests answered with their image
    failed,        // waiting requests answered with the build's error
    timed_out,     // waiting requests answered 503 after nixery_wait_timeout
    unavailable,   // 503s because Redis was unreachable
    rejected,      // nixery_rejected answers
    queue_full,    // 429s because the queue held nixery_queue_max_length jobs
    redis_workers, // workers with both Redis connections up (a gauge)
    // tags/list under `nixery_tags git`, by what the read of the helpers'
    // list gave: the list, no list (absent key), a list it could not read
    // (a bad record, Redis refusing the GET), no Redis to ask (down, or
    // lost before it answered). All but the first answer `latest` alone.
    tags_listed,
    tags_absent,
    tags_unreadable,
    tags_unavailable,
    count_
};

void stat_add(Stat s, std::int64_t delta = 1) noexcept;

// A request the registry's content handler routed (`refused`: a method
// other than GET and HEAD, answered before routing).
void stat_route(RouteKind kind) noexcept;
void stat_route_refused() noexcept;

// The `nixery_status [json | prometheus]` directive (location): makes the
// zone and sets the location's handler.
char* set_status(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept;

// postconfiguration: the log-phase handler that counts the responses of
// `nixery` locations by status code (a no-op without the zone).
ngx_int_t stats_init_log_phase(ngx_conf_t* cf) noexcept;

} // namespace nixery
