// Responses the module writes itself: small JSON bodies (the API version
// check and every error, in the spec's format from errors.h) and the headers
// every registry response carries.
//
// All functions are noexcept and return an nginx status, so any handler,
// including one resuming a parked request, can call them directly.
#pragma once

#include "ngx/ngx.h"

#include "errors.h"

#include <string_view>

namespace nixery {

// Append a response header. `key` and `value` must outlive the request
// (static data, or memory from r->pool). Returns the header or nullptr.
ngx_table_elt_t* add_header(ngx_http_request_t* r, ngx_str_t key,
                            ngx_str_t value) noexcept;

// Docker-Distribution-API-Version: registry/2.0
ngx_int_t add_api_version_header(ngx_http_request_t* r) noexcept;

// Send `body` as application/json (or `content_type`, which must outlive
// the request) with the given status, plus the API version header. HEAD
// requests get the same headers and no body.
ngx_int_t
send_json(ngx_http_request_t* r, ngx_uint_t status, std::string_view body,
          std::string_view content_type = "application/json") noexcept;

// Send an error as the spec's JSON. The status is the error table's unless
// `status` is given (the table maps UNSUPPORTED to 405; an unknown path is
// UNSUPPORTED with 404). 405 responses also carry `Allow: GET, HEAD`.
ngx_int_t send_error(ngx_http_request_t* r, ErrorCode code,
                     std::string_view detail = {},
                     ngx_uint_t status = 0) noexcept;

// What a catch in request-handling code does, so that no exception passes
// in silence: log one line, "nixery: <doing> failed for "<uri>"[ (image
// <key>)]: <what>", then answer 500 UNKNOWN in the registry's JSON. The body
// is a constant (rendering one could fail again for the same reason);
// when the response has already begun, the connection is closed instead.
// `what` is the exception's what(), or a fixed text for a catch (...).
ngx_int_t fail_request(ngx_http_request_t* r, const char* doing,
                       const char* what, std::string_view key = {}) noexcept;

} // namespace nixery
