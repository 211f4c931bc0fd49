// What the glue files share with the module file: the module itself and its
// location configuration.
//
// The configuration lives here rather than in ngx_http_nixery_module.c++ so
// that the glue in src/ngx/ (serving, errors, the build queue) reads the
// same struct the directives fill.
#pragma once

#include "ngx/ngx.h"

#include "ngx/bucket.h"
#include "ngx/queue.h"
#include "ngx/worker.h"

#include <type_traits>

extern "C" {
extern ngx_module_t ngx_http_nixery_module;
}

namespace nixery {

struct LocConf {
    // `nixery;`: this location answers the registry API.
    ngx_flag_t enable;
    // `nixery_storage PATH;`: the storage root, absolute after merging.
    ngx_str_t storage;
    // nixery_bucket and its companions (bucket.h): in bucket mode the
    // storage root is this host's local cache.
    BucketConf bucket;
    // `nixery_tags latest | git;`: which tags may exist (TagPolicy in
    // routes.h), NGX_CONF_UNSET_UINT until merged.
    ngx_uint_t tags;
    // `nixery_stale_max TIME;`: how long after its expiry an index entry
    // is still served while its image is rebuilt in the background
    // (seconds, 0: never), NGX_CONF_UNSET until merged.
    time_t stale_max;
};
// nginx allocates it from the configuration pool and never destroys it.
static_assert(std::is_trivially_destructible_v<LocConf>);

struct MainConf {
    // nixery_index_cache: the per-worker index cache (worker.h).
    IndexCacheConf index_cache;
    // nixery_redis, nixery_wait_timeout...: the build queue (queue.h).
    QueueConf queue;
};
static_assert(std::is_trivially_destructible_v<MainConf>);

// Make `handler` the content handler of the location being configured (for
// directives like nixery_rejected and nixery_status); refuses a location
// that has one already.
inline char* set_location_handler(ngx_conf_t* cf,
                                  ngx_http_handler_pt handler) noexcept
{
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    if (clcf->handler != nullptr) {
        return const_cast<char*>("is duplicate, or the location has a "
                                 "content handler already");
    }
    clcf->handler = handler;
    return NGX_CONF_OK;
}

inline LocConf* loc_conf(ngx_http_request_t* r) noexcept
{
    return static_cast<LocConf*>(
        ngx_http_get_module_loc_conf(r, ngx_http_nixery_module));
}

} // namespace nixery
