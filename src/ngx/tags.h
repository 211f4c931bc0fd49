// GET/HEAD /v2/<name>/tags/list: the tags the manifest routes serve, in
// the distribution spec's pages (tag_list.h, docs/directives.md).
//
// Under `nixery_tags latest` the answer is `latest` at once. Under
// `nixery_tags git` the worker reads the helpers' list of the repository's
// branches and git tags (`nixery:tags`, docs/redis.md) with one GET on the
// build queue's command connection (queue_client.h), parked like a build
// board request: the worker never blocks. Without a queue, with Redis down
// or going down before it answers, or without a readable list, the answer
// is `latest` alone, which is always served.
#pragma once

#include "ngx/ngx.h"

#include <string_view>

namespace nixery {

// Answer the request; `name` is the route's (valid_name()). A query that
// is no pagination (`n` not a non-negative integer, `last` not a tag) is
// 400 UNSUPPORTED. Returns what a content handler returns (NGX_DONE when
// the request waits for Redis).
ngx_int_t serve_tags_list(ngx_http_request_t* r,
                          std::string_view name) noexcept;

} // namespace nixery
