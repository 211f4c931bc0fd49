// `nixery_builds`: the build board as JSON, for the build page (www/).
//
// A location with `nixery_builds;` answers GET with what the registry is
// building (build_board.h): the builds in flight with their phase and the
// clients waiting on each, the queue, the last failures with Nix's message.
// The worker reads it with one script on its command connection to Redis
// (queue_client.h), parked like an image request: the worker never blocks,
// and a Redis that is down or slow gets 503 in the registry's JSON. The
// worker also keeps its own count of waiting clients per image in Redis,
// so that the count covers every worker of every host. Restrict the
// location like any other (allow/deny, auth): docs/directives.md.
#pragma once

#include "ngx/ngx.h"

namespace nixery {

// The `nixery_builds` directive (location): sets the location's handler.
char* set_builds(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept;

} // namespace nixery
