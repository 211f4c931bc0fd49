// ngx_http_nixery_module: the nginx side of the registry.
//
// Owns the registry API (/v2/) in the locations where `nixery;` is set.
// Directive table, configuration create/merge and the content handler live
// here; the handler only routes. Serving from storage is in src/ngx/serve.h,
// manifests by tag (the index, else the build queue) in src/ngx/tag.h, the
// build queue in src/ngx/queue.h, error responses in src/ngx/response.h, and
// serving from a bucket in src/ngx/bucket.h, and the plain C++ core in src/.
#include "ngx/ngx.h"

#include "ngx/bucket.h"
#include "ngx/builds.h"
#include "ngx/module.h"
#include "ngx/response.h"
#include "ngx/serve.h"
#include "ngx/stats.h"
#include "ngx/tag.h"
#include "ngx/tags.h"
#include "ngx/worker.h"

#include "errors.h"
#include "routes.h"

#include <exception>
#include <string_view>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

namespace {

using nixery::LocConf;
using nixery::MainConf;

ngx_int_t preconfiguration(ngx_conf_t* cf) noexcept;
ngx_int_t postconfiguration(ngx_conf_t* cf) noexcept;
void* create_main_conf(ngx_conf_t* cf) noexcept;
char* init_main_conf(ngx_conf_t* cf, void* conf) noexcept;
ngx_int_t init_process(ngx_cycle_t* cycle) noexcept;
void exit_process(ngx_cycle_t* cycle) noexcept;
void* create_loc_conf(ngx_conf_t* cf) noexcept;
char* merge_loc_conf(ngx_conf_t* cf, void* parent, void* child) noexcept;
char* set_nixery(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept;
char* set_rejected(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept;
ngx_int_t handler(ngx_http_request_t* r) noexcept;

ngx_conf_enum_t tag_policies[] = {
    {ngx_string("latest"), static_cast<ngx_uint_t>(nixery::TagPolicy::latest)},
    {ngx_string("git"), static_cast<ngx_uint_t>(nixery::TagPolicy::git)},
    {ngx_null_string, 0},
};
ngx_int_t rejected_handler(ngx_http_request_t* r) noexcept;

ngx_command_t commands[] = {
    {ngx_string("nixery"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS, set_nixery,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("nixery_rejected"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
     set_rejected, NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("nixery_status"),
     NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS | NGX_CONF_TAKE1, nixery::set_status,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("nixery_builds"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
     nixery::set_builds, NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("nixery_storage"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(LocConf, storage), nullptr},
    {ngx_string("nixery_tags"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE1,
     ngx_conf_set_enum_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(LocConf, tags),
     tag_policies},
    {ngx_string("nixery_stale_max"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE1,
     ngx_conf_set_sec_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(LocConf, stale_max), nullptr},
    {ngx_string("nixery_bucket"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_1MORE,
     nixery::bucket_set, NGX_HTTP_LOC_CONF_OFFSET, offsetof(LocConf, bucket),
     nullptr},
    {ngx_string("nixery_bucket_credentials"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE1,
     nixery::bucket_set_credentials, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(LocConf, bucket), nullptr},
    {ngx_string("nixery_bucket_blobs"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE1,
     ngx_conf_set_enum_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(LocConf, bucket) + offsetof(nixery::BucketConf, blobs),
     nixery::bucket_blobs_modes},
    {ngx_string("nixery_bucket_redirect_ttl"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE1,
     ngx_conf_set_sec_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(LocConf, bucket) + offsetof(nixery::BucketConf, redirect_ttl),
     nullptr},
    {ngx_string("nixery_bucket_location"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE1,
     nixery::bucket_set_location, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(LocConf, bucket), nullptr},
    {ngx_string("nixery_index_cache"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE12,
     nixery::index_cache_set, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(MainConf, index_cache), nullptr},
    {ngx_string("nixery_redis"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     nixery::queue_set_redis, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(MainConf, queue), nullptr},
    {ngx_string("nixery_redis_auth"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE12,
     nixery::queue_set_redis_auth, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(MainConf, queue), nullptr},
    {ngx_string("nixery_wait_timeout"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_msec_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(MainConf, queue) + offsetof(nixery::QueueConf, wait_timeout),
     nullptr},
    {ngx_string("nixery_redis_timeout"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_msec_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(MainConf, queue) + offsetof(nixery::QueueConf, redis_timeout),
     nullptr},
    {ngx_string("nixery_retry_after"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_sec_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(MainConf, queue) + offsetof(nixery::QueueConf, retry_after),
     nullptr},
    {ngx_string("nixery_queue_max_length"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_num_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(MainConf, queue) + offsetof(nixery::QueueConf, max_length),
     nullptr},
    ngx_null_command,
};

ngx_http_module_t module_ctx = {
    preconfiguration,  // preconfiguration
    postconfiguration, // postconfiguration
    create_main_conf,  // create main configuration
    init_main_conf,    // init main configuration
    nullptr,           // create server configuration
    nullptr,           // merge server configuration
    create_loc_conf,   // create location configuration
    merge_loc_conf,    // merge location configuration
};

} // namespace

extern "C" {
__attribute__((visibility("default")))
ngx_module_t ngx_http_nixery_module = {NGX_MODULE_V1,
                                       &module_ctx,
                                       commands,
                                       NGX_HTTP_MODULE,
                                       nullptr, // init master
                                       nullptr, // init module
                                       init_process,
                                       nullptr, // init thread
                                       nullptr, // exit thread
                                       exit_process,
                                       nullptr, // exit master
                                       NGX_MODULE_V1_PADDING};
}

namespace {

ngx_int_t preconfiguration(ngx_conf_t* cf) noexcept
{
    return nixery::bucket_add_variables(cf);
}

ngx_int_t postconfiguration(ngx_conf_t* cf) noexcept
{
    if (nixery::stats_init_log_phase(cf) != NGX_OK) {
        return NGX_ERROR;
    }
    return nixery::bucket_init_filters(cf);
}

void* create_main_conf(ngx_conf_t* cf) noexcept
{
    auto* conf =
        static_cast<MainConf*>(ngx_pcalloc(cf->pool, sizeof(MainConf)));
    if (conf != nullptr) {
        nixery::index_cache_conf_create(&conf->index_cache);
        nixery::queue_conf_create(&conf->queue);
    }
    return conf;
}

char* init_main_conf(ngx_conf_t* cf, void* conf) noexcept
{
    auto* main = static_cast<MainConf*>(conf);
    nixery::index_cache_conf_init(&main->index_cache);
    nixery::queue_conf_init(&main->queue);
    if (main->queue.board && main->queue.redis == nullptr) {
        // The board lives in the build queue's Redis.
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"nixery_builds\" needs \"nixery_redis\"");
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
}

// Per-worker state (the index cache, the build queue's Redis connections) is
// made here and destroyed in exit_process, never at load time.
ngx_int_t init_process(ngx_cycle_t* cycle) noexcept
{
    MainConf* conf = nullptr;
    if (cycle->conf_ctx[ngx_http_module.index] != nullptr) {
        conf = static_cast<MainConf*>(
            ngx_http_cycle_get_module_main_conf(cycle, ngx_http_nixery_module));
    }
    if (nixery::worker_init_process(cycle, conf ? &conf->index_cache
                                                : nullptr) != NGX_OK) {
        return NGX_ERROR;
    }
    return nixery::queue_init_process(cycle, conf ? &conf->queue : nullptr);
}

void exit_process(ngx_cycle_t* cycle) noexcept
{
    nixery::queue_exit_process(cycle);
    nixery::worker_exit_process(cycle);
#ifdef __SANITIZE_ADDRESS__
    // Sanitized builds only (docs/testing.md): a worker's connection and
    // event arrays are nginx's, left for exit() to free; once the worker
    // destroys its cycle's pool, right after this, nothing points at them
    // but each other and LeakSanitizer may call them leaked. Told here,
    // by address, so that nothing else of nginx or of ours is excused.
    __lsan_ignore_object(cycle->connections);
    __lsan_ignore_object(cycle->read_events);
    __lsan_ignore_object(cycle->write_events);
#endif
}

void* create_loc_conf(ngx_conf_t* cf) noexcept
{
    auto* conf = static_cast<LocConf*>(ngx_pcalloc(cf->pool, sizeof(LocConf)));
    if (conf == nullptr) {
        return nullptr;
    }
    conf->enable = NGX_CONF_UNSET;
    conf->tags = NGX_CONF_UNSET_UINT;
    conf->stale_max = NGX_CONF_UNSET;
    nixery::bucket_conf_create(&conf->bucket);
    return conf;
}

char* merge_loc_conf(ngx_conf_t* cf, void* parent, void* child) noexcept
{
    auto* prev = static_cast<LocConf*>(parent);
    auto* conf = static_cast<LocConf*>(child);
    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_str_value(conf->storage, prev->storage, "");
    ngx_conf_merge_uint_value(
        conf->tags, prev->tags,
        static_cast<ngx_uint_t>(nixery::TagPolicy::latest));
    // A day: well within nixery-gc's --keep-expired (a week), which keeps
    // an expired entry's manifests in storage that long.
    ngx_conf_merge_sec_value(conf->stale_max, prev->stale_max, 86400);
    if (nixery::bucket_conf_merge(cf, &prev->bucket, &conf->bucket) !=
        NGX_CONF_OK) {
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    if (!conf->enable) {
        return NGX_CONF_OK;
    }
    if (conf->storage.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"nixery\" needs \"nixery_storage\"");
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    // A relative path is relative to nginx's prefix, as for other paths.
    if (ngx_conf_full_name(cf->cycle, &conf->storage, 0) != NGX_OK) {
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    while (conf->storage.len > 1 &&
           conf->storage.data[conf->storage.len - 1] == '/') {
        --conf->storage.len;
    }
    return NGX_CONF_OK;
}

char* set_nixery(ngx_conf_t* cf, ngx_command_t*, void* conf) noexcept
{
    auto* lcf = static_cast<LocConf*>(conf);
    if (lcf->enable != NGX_CONF_UNSET) {
        return const_cast<char*>("is duplicate");
    }
    lcf->enable = 1;
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = handler;
    return NGX_CONF_OK;
}

char* set_rejected(ngx_conf_t* cf, ngx_command_t*, void*) noexcept
{
    return nixery::set_location_handler(cf, rejected_handler);
}

// The target of `error_page 400 414 494 URI`: requests nginx refused before
// routing them (a malformed request line, a header beyond the buffers, a
// path above the root) get the registry's JSON error instead of nginx's
// HTML page. nginx keeps the original status in r->err_status and sends it.
ngx_int_t rejected_handler(ngx_http_request_t* r) noexcept
{
    nixery::stat_add(nixery::Stat::rejected);
    if (r->err_status == NGX_HTTP_REQUEST_URI_TOO_LARGE) {
        return nixery::send_error(r, nixery::ErrorCode::name_invalid,
                                  "the request line is longer than nginx's "
                                  "large_client_header_buffers",
                                  NGX_HTTP_REQUEST_URI_TOO_LARGE);
    }
    return nixery::send_error(
        r, nixery::ErrorCode::unsupported,
        "nginx rejected the request before routing it: a malformed request "
        "line or path, or a header larger than its buffers",
        r->err_status != 0 ? r->err_status : NGX_HTTP_BAD_REQUEST);
}

// The path routes are matched on: the request target as the client sent it,
// without the query string. The registry grammar has no percent-encoded
// bytes, so matching before nginx decodes and normalises the URI turns
// "%2e%2e", "//" and "/../" into clear 400s instead of paths nginx rewrote
// (and does not depend on merge_slashes). After an internal redirect only
// the decoded URI is left; routes validate it just as strictly.
std::string_view request_path(ngx_http_request_t* r) noexcept
{
    if (r->valid_unparsed_uri) {
        std::string_view raw(reinterpret_cast<char*>(r->unparsed_uri.data),
                             r->unparsed_uri.len);
        return raw.substr(0, raw.find('?'));
    }
    return {reinterpret_cast<char*>(r->uri.data), r->uri.len};
}

ngx_int_t handler(ngx_http_request_t* r) noexcept
try {
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        nixery::stat_route_refused();
        return nixery::send_error(r, nixery::ErrorCode::unsupported,
                                  "this registry is read-only: only GET and "
                                  "HEAD are served");
    }
    nixery::Route route = nixery::parse_route(request_path(r));
    nixery::stat_route(route.kind);
    switch (route.kind) {
    case nixery::RouteKind::base:
        return nixery::send_json(r, NGX_HTTP_OK, "{}\n");
    case nixery::RouteKind::manifest_by_tag:
        return nixery::serve_manifest_by_tag(r, route);
    case nixery::RouteKind::manifest_by_digest:
        if (nixery::bucket_enabled(r)) {
            rc = nixery::serve_stored_manifest(r, route.reference);
            return rc != NGX_DECLINED
                       ? rc
                       : nixery::bucket_fetch_manifest(r, route.reference);
        }
        return nixery::serve_manifest_by_digest(r, route.reference);
    case nixery::RouteKind::blob:
        if (nixery::bucket_enabled(r)) {
            return nixery::bucket_serve_blob(r, route.reference);
        }
        return nixery::serve_blob(r, route.reference);
    case nixery::RouteKind::tags_list:
        return nixery::serve_tags_list(r, route.name);
    case nixery::RouteKind::referrers:
        return nixery::serve_referrers(r);
    case nixery::RouteKind::invalid:
    case nixery::RouteKind::absent:
        return nixery::send_error(r, route.error, route.detail);
    case nixery::RouteKind::unknown:
        break;
    }
    return nixery::send_error(r, nixery::ErrorCode::unsupported,
                              "no such registry route", NGX_HTTP_NOT_FOUND);
} catch (const std::exception& e) {
    return nixery::fail_request(r, "routing the request", e.what());
} catch (...) {
    return nixery::fail_request(r, "routing the request", "unknown exception");
}

} // namespace
