// The bucket's directives, the variables of the internal location, and the
// filters that give proxied blobs the registry's headers (bucket.h).
#include "ngx/bucket.h"

#include "ngx/module.h"
#include "ngx/response.h"

#include "bucket_signer.h"
#include "errors.h"
#include "media_types.h"

#include <exception>
#include <string>

namespace nixery {

namespace {

constexpr time_t default_redirect_ttl = 300; // 5 minutes, as Nixery
// Presigned URLs of the module's own fetches: used at once by the proxy.
constexpr std::int64_t fetch_url_ttl = 60;
constexpr std::string_view default_location = "/_nixery/bucket/";

std::string to_string(const ngx_str_t& s)
{
    return {reinterpret_cast<const char*>(s.data), s.len};
}

bool starts_with(const ngx_str_t& s, std::string_view prefix) noexcept
{
    return s.len >= prefix.size() &&
           ngx_strncmp(s.data, prefix.data(), prefix.size()) == 0;
}

void delete_signer(void* data) noexcept
{
    delete static_cast<BucketSigner*>(data);
}

BucketConf* bucket_conf_at(void* conf, ngx_command_t* cmd) noexcept
{
    return reinterpret_cast<BucketConf*>(static_cast<char*>(conf) +
                                         cmd->offset);
}

} // namespace

ngx_conf_enum_t bucket_blobs_modes[] = {
    {ngx_string("redirect"), bucket_blobs_redirect},
    {ngx_string("proxy"), bucket_blobs_proxy},
    {ngx_null_string, 0},
};

char* bucket_set(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept
{
    BucketConf* bcf = bucket_conf_at(conf, cmd);
    if (bcf->spec != nullptr) {
        return const_cast<char*>("is duplicate");
    }
    auto* spec =
        static_cast<BucketSpec*>(ngx_pcalloc(cf->pool, sizeof(BucketSpec)));
    if (spec == nullptr) {
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    spec->path_style = -1;
    auto* args = static_cast<ngx_str_t*>(cf->args->elts);
    ngx_uint_t n = cf->args->nelts;
    if (n == 2 && args[1].len == 3 &&
        ngx_strncmp(args[1].data, "off", 3) == 0) {
        spec->kind = bucket_off;
        bcf->spec = spec;
        return NGX_CONF_OK;
    }
    if (n < 3) {
        return const_cast<char*>("needs \"s3\" or \"gcs\" and a bucket name, "
                                 "or \"off\"");
    }
    if (args[1].len == 2 && ngx_strncmp(args[1].data, "s3", 2) == 0) {
        spec->kind = bucket_s3;
    } else if (args[1].len == 3 && ngx_strncmp(args[1].data, "gcs", 3) == 0) {
        spec->kind = bucket_gcs;
    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"nixery_bucket\": unknown kind \"%V\", expected "
                           "\"s3\", \"gcs\" or \"off\"",
                           &args[1]);
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    spec->name = args[2];
    for (ngx_uint_t i = 3; i < n; ++i) {
        ngx_str_t& a = args[i];
        auto value = [&](std::string_view prefix, ngx_str_t& out) {
            if (!starts_with(a, prefix)) {
                return false;
            }
            out.data = a.data + prefix.size();
            out.len = a.len - prefix.size();
            return true;
        };
        ngx_str_t v;
        if (value("endpoint=", spec->endpoint) ||
            (spec->kind == bucket_s3 && value("region=", spec->region))) {
            continue;
        }
        if (value("path_style=", v)) {
            if (v.len == 2 && ngx_strncmp(v.data, "on", 2) == 0) {
                spec->path_style = 1;
                continue;
            }
            if (v.len == 3 && ngx_strncmp(v.data, "off", 3) == 0) {
                spec->path_style = 0;
                continue;
            }
        }
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"nixery_bucket\": invalid parameter \"%V\"", &a);
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    bcf->spec = spec;
    return NGX_CONF_OK;
}

char* bucket_set_credentials(ngx_conf_t* cf, ngx_command_t* cmd,
                             void* conf) noexcept
{
    BucketConf* bcf = bucket_conf_at(conf, cmd);
    if (bcf->credentials.data != nullptr) {
        return const_cast<char*>("is duplicate");
    }
    bcf->credentials = static_cast<ngx_str_t*>(cf->args->elts)[1];
    // Relative to the configuration's directory, like ssl_certificate.
    if (ngx_conf_full_name(cf->cycle, &bcf->credentials, 1) != NGX_OK) {
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
}

char* bucket_set_location(ngx_conf_t* cf, ngx_command_t* cmd,
                          void* conf) noexcept
{
    BucketConf* bcf = bucket_conf_at(conf, cmd);
    if (bcf->location.data != nullptr) {
        return const_cast<char*>("is duplicate");
    }
    ngx_str_t v = static_cast<ngx_str_t*>(cf->args->elts)[1];
    if (v.len < 2 || v.data[0] != '/' || v.data[v.len - 1] != '/') {
        return const_cast<char*>("must be a URI that starts and ends with "
                                 "\"/\"");
    }
    bcf->location = v;
    return NGX_CONF_OK;
}

void bucket_conf_create(BucketConf* conf) noexcept
{
    conf->blobs = NGX_CONF_UNSET_UINT;
    conf->redirect_ttl = NGX_CONF_UNSET;
}

char* bucket_conf_merge(ngx_conf_t* cf, BucketConf* prev,
                        BucketConf* conf) noexcept
{
    bool own = conf->spec != nullptr || conf->credentials.data != nullptr;
    if (conf->spec == nullptr) {
        conf->spec = prev->spec;
    }
    if (conf->credentials.data == nullptr) {
        conf->credentials = prev->credentials;
    }
    ngx_conf_merge_uint_value(conf->blobs, prev->blobs, bucket_blobs_redirect);
    ngx_conf_merge_value(conf->redirect_ttl, prev->redirect_ttl,
                         default_redirect_ttl);
    if (conf->redirect_ttl < 1 ||
        conf->redirect_ttl > static_cast<time_t>(max_presign_expires)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"nixery_bucket_redirect_ttl\" must be between 1s "
                           "and 7d");
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    if (conf->location.data == nullptr) {
        conf->location = prev->location.data != nullptr
                             ? prev->location
                             : ngx_str_t{default_location.size(),
                                         (u_char*)default_location.data()};
    }
    if (conf->spec == nullptr || conf->spec->kind == bucket_off) {
        conf->signer = nullptr;
        return NGX_CONF_OK;
    }
    if (!own && prev->signer != nullptr) {
        conf->signer = prev->signer;
        return NGX_CONF_OK;
    }
    if (conf->credentials.data == nullptr) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"nixery_bucket\" needs "
                           "\"nixery_bucket_credentials\"");
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    try {
        BucketSettings s;
        s.kind =
            conf->spec->kind == bucket_gcs ? BucketKind::gcs : BucketKind::s3;
        s.name = to_string(conf->spec->name);
        s.endpoint = to_string(conf->spec->endpoint);
        if (conf->spec->region.len != 0) {
            s.region = to_string(conf->spec->region);
        }
        if (conf->spec->path_style != -1) {
            s.path_style = conf->spec->path_style == 1;
        }
        ngx_pool_cleanup_t* cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == nullptr) {
            return static_cast<char*>(NGX_CONF_ERROR);
        }
        conf->signer =
            new BucketSigner(std::move(s), to_string(conf->credentials));
        cln->handler = delete_signer;
        cln->data = conf->signer;
    } catch (const BucketConfigError& e) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"nixery_bucket_credentials\" or "
                           "\"nixery_bucket\": %s",
                           e.what());
        return static_cast<char*>(NGX_CONF_ERROR);
    } catch (const std::exception& e) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"nixery_bucket\": cannot make the signer: %s",
                           e.what());
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    // Locations that inherit both settings share this signer (one read
    // of the credentials file per place they are set).
    if (prev->spec == conf->spec &&
        prev->credentials.data == conf->credentials.data) {
        prev->signer = conf->signer;
    }
    return NGX_CONF_OK;
}

BucketCtx* bucket_ctx(ngx_http_request_t* r) noexcept
{
    auto* ctx = static_cast<BucketCtx*>(
        ngx_http_get_module_ctx(r, ngx_http_nixery_module));
    if (ctx == nullptr) {
        ctx = static_cast<BucketCtx*>(ngx_pcalloc(r->pool, sizeof(BucketCtx)));
        if (ctx != nullptr) {
            ngx_http_set_ctx(r, ctx, ngx_http_nixery_module);
        }
    }
    return ctx;
}

bool bucket_enabled(ngx_http_request_t* r) noexcept
{
    return loc_conf(r)->bucket.signer != nullptr;
}

// --- Variables of the internal location ----------------------------------

namespace {

// The object key in the URI of a request to the internal location:
// "<nixery_bucket_location><key>", the key a layout key. Empty otherwise.
std::string_view uri_key(ngx_http_request_t* r) noexcept
{
    const BucketConf& bcf = loc_conf(r)->bucket;
    if (bcf.signer == nullptr ||
        !starts_with(r->uri, {reinterpret_cast<char*>(bcf.location.data),
                              bcf.location.len})) {
        return {};
    }
    std::string_view key(reinterpret_cast<char*>(r->uri.data) +
                             bcf.location.len,
                         r->uri.len - bcf.location.len);
    return is_bucket_key(key) ? key : std::string_view{};
}

ngx_int_t variable_key(ngx_http_request_t* r, ngx_http_variable_value_t* v,
                       uintptr_t) noexcept
{
    std::string_view key = uri_key(r);
    if (key.empty()) {
        v->not_found = 1;
        return NGX_OK;
    }
    v->data = reinterpret_cast<u_char*>(const_cast<char*>(key.data()));
    v->len = key.size();
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}

// Signs for the method nginx sends upstream, which is the request's: the
// module asks for headers only with header-only GETs, never HEAD, since
// proxy_cache sends GET upstream anyway.
ngx_int_t variable_url(ngx_http_request_t* r, ngx_http_variable_value_t* v,
                       uintptr_t) noexcept
try {
    v->not_found = 1;
    std::string_view key = uri_key(r);
    if (key.empty()) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "nixery: $nixery_bucket_url: \"%V\" is not a storage "
                      "key under nixery_bucket_location, or no nixery_bucket "
                      "is set here",
                      &r->uri);
        return NGX_OK;
    }
    std::string_view method = r->method == NGX_HTTP_HEAD  ? "HEAD"
                              : r->method == NGX_HTTP_GET ? "GET"
                                                          : "";
    if (method.empty()) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "nixery: $nixery_bucket_url: only GET and HEAD are "
                      "signed");
        return NGX_OK;
    }
    std::string url = loc_conf(r)->bucket.signer->presigned_url(
        method, key, ngx_time(), fetch_url_ttl);
    auto* p = static_cast<u_char*>(ngx_pnalloc(r->pool, url.size()));
    if (p == nullptr) {
        return NGX_ERROR;
    }
    ngx_memcpy(p, url.data(), url.size());
    v->data = p;
    v->len = url.size();
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
} catch (const std::exception& e) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "nixery: $nixery_bucket_url failed for \"%V\": %s", &r->uri,
                  e.what());
    return NGX_ERROR;
} catch (...) {
    return NGX_ERROR;
}

} // namespace

ngx_int_t bucket_add_variables(ngx_conf_t* cf) noexcept
{
    struct Def {
        ngx_str_t name;
        ngx_http_get_variable_pt get;
    };
    // Not cacheable: subrequests share their parent's variable values.
    for (const Def& d : {Def{ngx_string("nixery_bucket_url"), variable_url},
                         Def{ngx_string("nixery_bucket_key"), variable_key}}) {
        ngx_str_t name = d.name;
        ngx_http_variable_t* var = ngx_http_add_variable(
            cf, &name, NGX_HTTP_VAR_NOCACHEABLE | NGX_HTTP_VAR_NOHASH);
        if (var == nullptr) {
            return NGX_ERROR;
        }
        var->get_handler = d.get;
    }
    return NGX_OK;
}

// --- Proxied blobs: the registry's headers, or its JSON error -------------

namespace {

ngx_http_output_header_filter_pt next_header_filter;
ngx_http_output_body_filter_pt next_body_filter;

void hide_upstream_headers(ngx_http_request_t* r) noexcept
{
    ngx_list_part_t* part = &r->headers_out.headers.part;
    auto* h = static_cast<ngx_table_elt_t*>(part->elts);
    for (ngx_uint_t i = 0;; ++i) {
        if (i >= part->nelts) {
            if (part->next == nullptr) {
                break;
            }
            part = part->next;
            h = static_cast<ngx_table_elt_t*>(part->elts);
            i = 0;
            if (part->nelts == 0) {
                continue;
            }
        }
        // The bucket's own ETag (an MD5 or so) and x-amz-*/x-goog-*/x-rgw-*
        // headers mean nothing to registry clients.
        if ((h[i].key.len == 4 &&
             ngx_strncasecmp(h[i].key.data, (u_char*)"etag", 4) == 0) ||
            (h[i].key.len > 2 &&
             ngx_strncasecmp(h[i].key.data, (u_char*)"x-", 2) == 0)) {
            h[i].hash = 0;
        }
    }
    r->headers_out.etag = nullptr;
}

ngx_int_t blob_header_filter(ngx_http_request_t* r) noexcept
try {
    if (r != r->main || !r->internal) {
        return next_header_filter(r);
    }
    const BucketConf& bcf = loc_conf(r)->bucket;
    if (bcf.signer == nullptr || bcf.blobs != bucket_blobs_proxy) {
        return next_header_filter(r);
    }
    std::string_view key = uri_key(r);
    constexpr std::string_view blobs = "blobs/";
    if (key.substr(0, blobs.size()) != blobs) {
        return next_header_filter(r);
    }
    std::string_view hex = key.substr(key.size() - 64);
    ngx_uint_t status = r->headers_out.status;
    hide_upstream_headers(r);
    if (status == NGX_HTTP_OK || status == NGX_HTTP_PARTIAL_CONTENT ||
        status == NGX_HTTP_NOT_MODIFIED ||
        status == NGX_HTTP_RANGE_NOT_SATISFIABLE) {
        static constexpr std::string_view prefix = "\"sha256:";
        std::size_t len = prefix.size() + hex.size() + 1;
        auto* etag = static_cast<u_char*>(ngx_pnalloc(r->pool, len));
        if (etag == nullptr) {
            return NGX_ERROR;
        }
        u_char* last = ngx_cpymem(etag, prefix.data(), prefix.size());
        last = ngx_cpymem(last, hex.data(), hex.size());
        *last = '"';
        r->headers_out.etag = add_header(r, ngx_string("ETag"), {len, etag});
        if (r->headers_out.etag == nullptr ||
            add_header(r, ngx_string("Docker-Content-Digest"),
                       {len - 2, etag + 1}) == nullptr ||
            add_api_version_header(r) != NGX_OK) {
            return NGX_ERROR;
        }
        if (status == NGX_HTTP_OK || status == NGX_HTTP_PARTIAL_CONTENT) {
            r->headers_out.content_type.len = media::blob.size();
            r->headers_out.content_type.data = reinterpret_cast<u_char*>(
                const_cast<char*>(media::blob.data()));
            r->headers_out.content_type_len = media::blob.size();
            r->headers_out.content_type_lowcase = nullptr;
            r->headers_out.charset.len = 0;
        }
        if (status == NGX_HTTP_OK) {
            r->allow_ranges = 1;
        }
        return next_header_filter(r);
    }

    // Anything else is the bucket's answer (or nginx's 502/504 when it
    // could not be reached): the registry's JSON instead.
    bool reached =
        r->upstream != nullptr && r->upstream->headers_in.status_n != 0;
    ErrorCode code = status == NGX_HTTP_NOT_FOUND && reached
                         ? ErrorCode::blob_unknown
                         : ErrorCode::unavailable;
    if (code == ErrorCode::unavailable) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "nixery: bucket object \"%*s\": %s %ui", key.size(),
                      key.data(),
                      reached ? "the bucket answered"
                              : "the bucket could not be reached:",
                      status);
    }
    std::string json = error_json(code, {},
                                  code == ErrorCode::unavailable
                                      ? "the image bucket is unavailable"
                                      : "");
    BucketCtx* ctx = bucket_ctx(r);
    auto* p = static_cast<u_char*>(ngx_pnalloc(r->pool, json.size()));
    if (ctx == nullptr || p == nullptr) {
        return NGX_ERROR;
    }
    ngx_memcpy(p, json.data(), json.size());
    ctx->error = {json.size(), p};
    r->headers_out.status = error_info(code).status;
    r->headers_out.status_line.len = 0;
    r->headers_out.content_length_n = static_cast<off_t>(json.size());
    if (r->headers_out.content_length != nullptr) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = nullptr;
    }
    r->headers_out.last_modified_time = -1;
    if (r->headers_out.last_modified != nullptr) {
        r->headers_out.last_modified->hash = 0;
        r->headers_out.last_modified = nullptr;
    }
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = nullptr;
    r->headers_out.charset.len = 0;
    r->allow_ranges = 0;
    if (add_api_version_header(r) != NGX_OK) {
        return NGX_ERROR;
    }
    return next_header_filter(r);
} catch (const std::exception& e) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "nixery: answering a proxied blob failed for \"%V\": %s",
                  &r->uri, e.what());
    return NGX_ERROR;
} catch (...) {
    return NGX_ERROR;
}

// Swallow the bucket's (or nginx's) error body; send the JSON once, at the
// end of the response.
ngx_int_t blob_body_filter(ngx_http_request_t* r, ngx_chain_t* in) noexcept
{
    auto* ctx = r == r->main ? static_cast<BucketCtx*>(ngx_http_get_module_ctx(
                                   r, ngx_http_nixery_module))
                             : nullptr;
    if (ctx == nullptr || ctx->error.data == nullptr || r->header_only) {
        return next_body_filter(r, in);
    }
    bool last = false;
    for (ngx_chain_t* cl = in; cl != nullptr; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
        last = last || cl->buf->last_buf;
    }
    if (!last || ctx->error_sent) {
        return NGX_OK;
    }
    ctx->error_sent = true;
    auto* b = static_cast<ngx_buf_t*>(ngx_calloc_buf(r->pool));
    if (b == nullptr) {
        return NGX_ERROR;
    }
    b->pos = ctx->error.data;
    b->last = ctx->error.data + ctx->error.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;
    ngx_chain_t out = {b, nullptr};
    return next_body_filter(r, &out);
}

} // namespace

ngx_int_t bucket_init_filters(ngx_conf_t*) noexcept
{
    next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = blob_header_filter;
    next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = blob_body_filter;
    return NGX_OK;
}

} // namespace nixery
