#include "ngx/response.h"

#include <exception>
#include <string>

namespace nixery {

ngx_table_elt_t* add_header(ngx_http_request_t* r, ngx_str_t key,
                            ngx_str_t value) noexcept
{
    auto* h =
        static_cast<ngx_table_elt_t*>(ngx_list_push(&r->headers_out.headers));
    if (h == nullptr) {
        return nullptr;
    }
    h->hash = 1;
    h->key = key;
    h->value = value;
    h->lowcase_key = nullptr;
    return h;
}

ngx_int_t add_api_version_header(ngx_http_request_t* r) noexcept
{
    return add_header(r, ngx_string("Docker-Distribution-API-Version"),
                      ngx_string("registry/2.0")) != nullptr
               ? NGX_OK
               : NGX_ERROR;
}

ngx_int_t send_json(ngx_http_request_t* r, ngx_uint_t status,
                    std::string_view body,
                    std::string_view content_type) noexcept
{
    if (add_api_version_header(r) != NGX_OK) {
        return NGX_ERROR;
    }
    r->headers_out.status = status;
    r->headers_out.content_length_n = static_cast<off_t>(body.size());
    r->headers_out.content_type.data =
        reinterpret_cast<u_char*>(const_cast<char*>(content_type.data()));
    r->headers_out.content_type.len = content_type.size();
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = nullptr;

    ngx_int_t rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }
    ngx_buf_t* b = ngx_create_temp_buf(r->pool, body.size());
    if (b == nullptr) {
        return NGX_ERROR;
    }
    b->last = ngx_cpymem(b->last, body.data(), body.size());
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    ngx_chain_t out = {b, nullptr};
    return ngx_http_output_filter(r, &out);
}

ngx_int_t send_error(ngx_http_request_t* r, ErrorCode code,
                     std::string_view detail, ngx_uint_t status) noexcept
try {
    const ErrorInfo& info = error_info(code);
    ngx_uint_t s = status != 0 ? status : static_cast<ngx_uint_t>(info.status);
    if (s == NGX_HTTP_NOT_ALLOWED &&
        add_header(r, ngx_string("Allow"), ngx_string("GET, HEAD")) ==
            nullptr) {
        return NGX_ERROR;
    }
    std::string body = error_json(code, {}, detail);
    return send_json(r, s, body);
} catch (const std::exception& e) {
    return fail_request(r, "rendering an error response", e.what());
} catch (...) {
    return fail_request(r, "rendering an error response", "unknown exception");
}

ngx_int_t fail_request(ngx_http_request_t* r, const char* doing,
                       const char* what, std::string_view key) noexcept
{
    if (key.empty()) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "nixery: %s failed for \"%V\": %s", doing, &r->uri, what);
    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "nixery: %s failed for \"%V\" (image %*s): %s", doing,
                      &r->uri, key.size(), key.data(), what);
    }
    if (r->header_sent) {
        return NGX_ERROR;
    }
    static constexpr std::string_view body =
        "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"internal "
        "error\",\"detail\":\"the server's error log says what failed\"}]}\n";
    return send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR, body);
}

} // namespace nixery
