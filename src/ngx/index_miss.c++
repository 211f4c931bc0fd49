#include "ngx/index_miss.h"

#include "ngx/response.h"

namespace nixery {

ngx_int_t index_miss(ngx_http_request_t* r, const ImageRequest& request,
                     std::string_view) noexcept
{
    // Tell the client which image was not found; the name and tag are
    // validated, so they are safe to echo.
    std::string detail;
    try {
        detail =
            "image " + request.name + ":" + request.tag + " is not in storage";
    } catch (...) {
        detail.clear();
    }
    return send_error(r, ErrorCode::manifest_unknown, detail);
}

} // namespace nixery
