// Registry counters shared by every worker, and `nixery_status`, which
// serves them as JSON:
//
//     {"tag_hits":..,"tag_misses":..,"waiting":..,"waited":..,"built":..,
//      "failed":..,"timed_out":..,"unavailable":..,"rejected":..,
//      "queue_full":..,"redis_workers":..}
//
// They live in one small shared memory zone ("nixery_status"), made when a
// `nixery_status` location is configured; without one, counting is a
// no-op. Lock-free atomics: workers never wait on each other. A reload
// keeps them (same zone); a restart starts from zero.
#pragma once

#include "ngx/ngx.h"

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
    count_
};

void stat_add(Stat s, std::int64_t delta = 1) noexcept;

// The `nixery_status` directive (location): makes the zone and sets the
// location's handler.
char* set_status(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept;

} // namespace nixery
