#include "ngx/index_miss.h"

#include "ngx/queue.h"

namespace nixery {

ngx_int_t index_miss(ngx_http_request_t* r, const ImageRequest& request,
                     std::string_view key) noexcept
{
    // Build on demand through the queue (queue.h); without `nixery_redis`
    // it answers 404 MANIFEST_UNKNOWN naming the image.
    return queue_wait_for_image(r, request, key);
}

} // namespace nixery
