// ngx_http_nixery_module: the nginx side of the registry.
//
// Owns /v2/ in the locations where `nixery;` is set. Directive table,
// configuration create/merge and the content handler live here; the request
// logic is in src/ngx/ (nginx glue) and src/ (the plain C++ core).
#include "ngx/ngx.h"

#include "errors.h"

#include <new>
#include <string>
#include <type_traits>

namespace {

struct LocConf {
    ngx_flag_t enable;
    ngx_str_t storage;
};
static_assert(std::is_trivially_destructible_v<LocConf>);

void* create_loc_conf(ngx_conf_t* cf) noexcept;
char* merge_loc_conf(ngx_conf_t* cf, void* parent, void* child) noexcept;
char* set_nixery(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept;
ngx_int_t handler(ngx_http_request_t* r) noexcept;

ngx_command_t commands[] = {
    {ngx_string("nixery"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS, set_nixery,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("nixery_storage"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(LocConf, storage), nullptr},
    ngx_null_command,
};

ngx_http_module_t module_ctx = {
    nullptr,         // preconfiguration
    nullptr,         // postconfiguration
    nullptr,         // create main configuration
    nullptr,         // init main configuration
    nullptr,         // create server configuration
    nullptr,         // merge server configuration
    create_loc_conf, // create location configuration
    merge_loc_conf,  // merge location configuration
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
                                       nullptr, // init process
                                       nullptr, // init thread
                                       nullptr, // exit thread
                                       nullptr, // exit process
                                       nullptr, // exit master
                                       NGX_MODULE_V1_PADDING};
}

namespace {

void* create_loc_conf(ngx_conf_t* cf) noexcept
{
    auto* conf = static_cast<LocConf*>(ngx_pcalloc(cf->pool, sizeof(LocConf)));
    if (conf == nullptr) {
        return nullptr;
    }
    conf->enable = NGX_CONF_UNSET;
    return conf;
}

char* merge_loc_conf(ngx_conf_t*, void* parent, void* child) noexcept
{
    auto* prev = static_cast<LocConf*>(parent);
    auto* conf = static_cast<LocConf*>(child);
    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_str_value(conf->storage, prev->storage, "");
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

ngx_int_t send_body(ngx_http_request_t* r, ngx_uint_t status,
                    const std::string& body) noexcept
{
    r->headers_out.status = status;
    r->headers_out.content_length_n = static_cast<off_t>(body.size());
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
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

ngx_int_t handler(ngx_http_request_t* r) noexcept
try {
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }
    ngx_str_t v2 = ngx_string("/v2/");
    if (r->uri.len == v2.len &&
        ngx_strncmp(r->uri.data, v2.data, v2.len) == 0) {
        return send_body(r, NGX_HTTP_OK, "{}\n");
    }
    return send_body(r, NGX_HTTP_NOT_FOUND,
                     nixery::error_json(nixery::ErrorCode::name_unknown));
} catch (...) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

} // namespace
