// What happens when a manifest-by-tag request finds nothing usable in the
// index: the single hook between the read path and the build queue.
//
// With a build queue (`nixery_redis`, queue.h) a miss enqueues a build of
// `request` under `key`, parks `r`, and when the build is published resumes
// it with serve_from_index(r, key) (serve.h). Without one, a miss is 404
// MANIFEST_UNKNOWN.
#pragma once

#include "ngx/ngx.h"

#include "image_request.h"

#include <string_view>

namespace nixery {

// Answer (or take over) a request whose key has no usable index entry.
// Returns what a content handler returns: an nginx status, or NGX_DONE when
// the request was parked.
ngx_int_t index_miss(ngx_http_request_t* r, const ImageRequest& request,
                     std::string_view key) noexcept;

} // namespace nixery
