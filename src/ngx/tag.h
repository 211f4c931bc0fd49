// Manifests by tag: the one request the registry may have to build for.
//
// The tag's canonical key (remembered per worker for names seen before)
// names an index entry in storage; a usable one is served at once
// (serve.h), and so is one expired less than nixery_stale_max ago, whose
// rebuild is then queued in the background (queue.h). A miss goes to the build
// queue (queue.h), which parks the request until the image is built, or answers
// 404 when no queue is configured.
#pragma once

#include "ngx/ngx.h"

#include "routes.h"

namespace nixery {

// Answer GET/HEAD /v2/<name>/manifests/<tag> (`route` is a manifest_by_tag
// route). Returns what a content handler returns: an nginx status, or
// NGX_DONE when the request was parked.
ngx_int_t serve_manifest_by_tag(ngx_http_request_t* r,
                                const Route& route) noexcept;

} // namespace nixery
