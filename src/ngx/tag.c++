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
        ngx_int_t rc = serve_from_index(r, *known);
        if (rc != NGX_DECLINED) {
            stat_add(Stat::tag_hits);
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
        ngx_int_t rc = serve_from_index(r, key);
        if (rc != NGX_DECLINED) {
            stat_add(Stat::tag_hits);
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
