#include "ngx/tag.h"

#include "ngx/bucket.h"
#include "ngx/module.h"
#include "ngx/queue.h"
#include "ngx/response.h"
#include "ngx/serve.h"
#include "ngx/stats.h"
#include "ngx/worker.h"

#include "image_request.h"

#include <exception>
#include <string>

namespace nixery {

namespace {

// Serve `key` from the index. An image expired less than nixery_stale_max
// ago is served too when a build queue can rebuild it, and its rebuild is
// queued in the background (`request`, or the route parsed again). Not in
// bucket mode: the bucket's entry may be newer than the local copy, so
// bucket_fetch.c++ fetches it and serves that one, stale or not.
ngx_int_t serve_stored(ngx_http_request_t* r, const Route& route,
                       const std::string& key, const ImageRequest* request)
{
    bool stale = false;
    bool may_be_stale = queue_enabled() && !bucket_enabled(r);
    ngx_int_t rc = serve_from_index(r, key, may_be_stale ? &stale : nullptr);
    if (rc == NGX_DECLINED) {
        return rc;
    }
    stat_add(Stat::tag_hits);
    if (stale) {
        if (request != nullptr) {
            queue_refresh(*request, key);
        } else {
            ParseResult parsed =
                parse_image_request(route.name, route.reference);
            if (parsed.error == NameError::none) {
                queue_refresh(parsed.request, key);
            }
        }
    }
    return rc;
}

} // namespace

ngx_int_t serve_manifest_by_tag(ngx_http_request_t* r,
                                const Route& route) noexcept
try {
    // Checked first, so that a flood of made-up tags costs no index
    // lookup, Redis call or build.
    auto policy = static_cast<TagPolicy>(loc_conf(r)->tags);
    if (!tag_may_exist(policy, route.reference)) {
        return send_error(r, ErrorCode::manifest_unknown,
                          unserved_tag_detail(policy, route.reference));
    }
    WorkerState* worker = worker_state();
    const std::string* known =
        worker ? worker->request_keys.find(route.name, route.reference)
               : nullptr;
    if (known != nullptr) {
        ngx_int_t rc = serve_stored(r, route, *known, nullptr);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    ParseResult parsed = parse_image_request(route.name, route.reference);
    switch (parsed.error) {
    case NameError::none:
        break;
    case NameError::name_invalid:
        return send_error(r, ErrorCode::name_invalid, parsed.message);
    case NameError::tag_invalid:
        return send_error(r, ErrorCode::tag_invalid, parsed.message);
    }
    std::string key = canonical_key(parsed.request);
    if (known == nullptr) {
        if (worker != nullptr) {
            worker->request_keys.put(route.name, route.reference, key);
        }
        ngx_int_t rc = serve_stored(r, route, key, &parsed.request);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }
    if (bucket_enabled(r)) {
        // The local cache missed: the bucket may have it (counted there).
        return bucket_fetch_image(r, parsed.request, key);
    }
    stat_add(Stat::tag_misses);
    return queue_wait_for_image(r, parsed.request, key);
} catch (const std::exception& e) {
    return fail_request(r, "serving a manifest by tag", e.what());
} catch (...) {
    return fail_request(r, "serving a manifest by tag", "unknown exception");
}

} // namespace nixery
