// Bucket mode's answers (bucket.h): manifests and index entries fetched
// into the local cache with in-memory subrequests, blob redirects, blob
// HEADs as header-only subrequests, and the internal redirect of proxied
// blobs.
//
// A fetch is a small state machine in the request's pool (Fetch): start()
// makes an in-memory subrequest into the internal location and takes a
// reference on the request (NGX_DONE); when the subrequest ends,
// fetch_done() records its status and body and points the parent's write
// handler at fetch_resume(), which runs the next step. A step answers the
// client, starts another fetch, or parks the request on the build queue;
// each returns what a content handler returns, and fetch_resume()
// finalizes with it.
#include "ngx/bucket.h"

#include "ngx/module.h"
#include "ngx/queue.h"
#include "ngx/response.h"
#include "ngx/serve.h"
#include "ngx/stats.h"

#include "atomic_file.h"
#include "bucket_signer.h"
#include "digest.h"
#include "errors.h"
#include "media_types.h"
#include "storage_layout.h"

#include <algorithm>
#include <exception>
#include <iterator>
#include <string>

namespace nixery {

namespace {

enum class Goal { image, built, manifest, blob_head };

struct Fetch;
using Step = ngx_int_t (*)(ngx_http_request_t*, Fetch&);

struct Fetch {
    Goal goal = Goal::image;
    std::string key;      // image, built: the canonical key
    ImageRequest request; // image: what the build queue gets on a miss
    std::string hex;      // the manifest's (or blob's) digest
    ManifestKind kind = ManifestKind::docker;
    std::uint64_t manifest_size = 0; // image: as the index entry says
    std::string index_text;          // image: the bucket's index entry
    // image: the bucket's entry expired less than nixery_stale_max ago; it
    // is served and the image rebuilt in the background.
    bool stale = false;

    std::string object; // the key being fetched
    Step next = nullptr;
    // What the last subrequest got.
    ngx_uint_t status = 0;
    bool reached = false; // the bucket answered (else nginx's 502/504)
    std::string body;
    off_t length = -1;
};

void delete_fetch(void* data) noexcept
{
    delete static_cast<Fetch*>(data);
}

Fetch* new_fetch(ngx_http_request_t* r, Goal goal)
{
    BucketCtx* ctx = bucket_ctx(r);
    ngx_pool_cleanup_t* cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == nullptr || cln == nullptr) {
        return nullptr;
    }
    auto* f = new Fetch;
    f->goal = goal;
    cln->handler = delete_fetch;
    cln->data = f;
    ctx->fetch = f;
    return f;
}

std::string storage_root(ngx_http_request_t* r)
{
    const ngx_str_t& root = loc_conf(r)->storage;
    return {reinterpret_cast<char*>(root.data), root.len};
}

// --- Running subrequests --------------------------------------------------

void fetch_resume(ngx_http_request_t* r) noexcept
{
    r->write_event_handler = ngx_http_request_empty_handler;
    auto* ctx = static_cast<BucketCtx*>(
        ngx_http_get_module_ctx(r, ngx_http_nixery_module));
    auto* f = ctx != nullptr ? static_cast<Fetch*>(ctx->fetch) : nullptr;
    ngx_int_t rc;
    if (f == nullptr || f->next == nullptr) {
        rc = fail_request(r, "fetching from the bucket", "no fetch to resume");
    } else {
        try {
            rc = f->next(r, *f);
        } catch (const std::exception& e) {
            rc = fail_request(r, "fetching from the bucket", e.what(), f->key);
        } catch (...) {
            rc = fail_request(r, "fetching from the bucket",
                              "unknown exception", f->key);
        }
    }
    ngx_http_finalize_request(r, rc);
}

// The subrequest ended: keep what it got, resume the parent. Returning
// NGX_OK whatever `rc` was lets an upstream error end only the
// subrequest: the parent answers for it.
ngx_int_t fetch_done(ngx_http_request_t* sr, void* data, ngx_int_t rc) noexcept
{
    auto* f = static_cast<Fetch*>(data);
    ngx_uint_t status = sr->headers_out.status;
    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE || status == 0) {
        status = rc >= NGX_HTTP_SPECIAL_RESPONSE ? static_cast<ngx_uint_t>(rc)
                                                 : NGX_HTTP_BAD_GATEWAY;
    }
    f->status = status;
    f->reached =
        sr->upstream != nullptr && sr->upstream->headers_in.status_n != 0;
    f->length = sr->headers_out.content_length_n;
    f->body.clear();
    try {
        if (status == NGX_HTTP_OK && sr->out != nullptr &&
            sr->out->buf != nullptr) {
            ngx_buf_t* b = sr->out->buf;
            f->body.assign(reinterpret_cast<char*>(b->pos),
                           static_cast<std::size_t>(b->last - b->pos));
        }
    } catch (...) {
        f->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        f->reached = false;
    }
    // A body cut short (a response larger than the in-memory buffer, an
    // upstream that went away) is not the object.
    if (f->status == NGX_HTTP_OK && !sr->header_only && f->length >= 0 &&
        static_cast<off_t>(f->body.size()) != f->length) {
        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "nixery: bucket object \"%s\": got %uz of %O bytes "
                      "(subrequest_output_buffer_size too small?)",
                      f->object.c_str(), f->body.size(), f->length);
        f->status = NGX_HTTP_BAD_GATEWAY;
    }
    sr->parent->write_event_handler = fetch_resume;
    return NGX_OK;
}

// Fetch `object` with an in-memory subrequest (headers only when `head`);
// `next` runs when it ends. Takes a reference on the request: NGX_DONE.
ngx_int_t start(ngx_http_request_t* r, Fetch& f, std::string object, Step next,
                bool head = false)
{
    const ngx_str_t& location = loc_conf(r)->bucket.location;
    f.object = std::move(object);
    f.next = next;
    ngx_str_t uri;
    uri.len = location.len + f.object.size();
    uri.data = static_cast<u_char*>(ngx_pnalloc(r->pool, uri.len));
    auto* ps = static_cast<ngx_http_post_subrequest_t*>(
        ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t)));
    if (uri.data == nullptr || ps == nullptr) {
        return NGX_ERROR;
    }
    ngx_memcpy(ngx_cpymem(uri.data, location.data, location.len),
               f.object.data(), f.object.size());
    ps->handler = fetch_done;
    ps->data = &f;
    ngx_http_request_t* sr = nullptr;
    if (ngx_http_subrequest(r, &uri, nullptr, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY |
                                NGX_HTTP_SUBREQUEST_WAITED) != NGX_OK) {
        return NGX_ERROR;
    }
    // The bucket gets nothing of the client's request: no credentials, no
    // conditionals, no range (a 304 or 206 is not the object).
    if (ngx_list_init(&sr->headers_in.headers, r->pool, 2,
                      sizeof(ngx_table_elt_t)) != NGX_OK) {
        return NGX_ERROR;
    }
    sr->headers_in.if_modified_since = nullptr;
    sr->headers_in.if_unmodified_since = nullptr;
    sr->headers_in.if_match = nullptr;
    sr->headers_in.if_none_match = nullptr;
    sr->headers_in.range = nullptr;
    sr->headers_in.if_range = nullptr;
    sr->headers_in.authorization = nullptr;
    // A HEAD is a header-only GET: with proxy_cache in the location nginx
    // sends GET upstream whatever the method, and the URL is signed for
    // what is sent. Without a cache the body is not read: the upstream
    // connection is closed after the headers.
    sr->header_only = head ? 1 : 0;
    r->main->count++;
    return NGX_DONE;
}

ngx_int_t unavailable(ngx_http_request_t* r, const Fetch& f)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "nixery: bucket object \"%s\": %s %ui", f.object.c_str(),
                  f.reached ? "the bucket answered"
                            : "the bucket could not be reached:",
                  f.status);
    return send_error(r, ErrorCode::unavailable,
                      "the image bucket is unavailable");
}

// A stored object that is not what its name or the index says.
ngx_int_t corrupt(ngx_http_request_t* r, const Fetch& f)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "nixery: bucket object \"%s\" (%uz bytes) does not match "
                  "its digest or its index entry",
                  f.object.c_str(), f.body.size());
    return send_error(r, ErrorCode::unknown,
                      "stored manifest does not match its digest");
}

// --- Manifests by tag -----------------------------------------------------

ngx_int_t image_miss(ngx_http_request_t* r, Fetch& f)
{
    if (f.goal == Goal::built) {
        stat_add(Stat::failed);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "nixery: image %s announced as built but not in the "
                      "bucket; does the helper write to this nixery_bucket?",
                      f.key.c_str());
        return send_json(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                         error_json(ErrorCode::unknown,
                                    "image built but missing from storage"));
    }
    stat_add(Stat::tag_misses);
    return queue_wait_for_image(r, f.request, f.key);
}

// The manifest is in the local cache: put the index entry beside it (the
// index last, as the helper publishes) and serve both from there.
ngx_int_t image_publish(ngx_http_request_t* r, Fetch& f)
{
    publish_file(storage_root(r), index_path(f.key), f.index_text);
    bool stale = false;
    ngx_int_t rc = serve_from_index(r, f.key, f.stale ? &stale : nullptr);
    if (stale) {
        queue_refresh(f.request, f.key);
    }
    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "nixery: image %s fetched from the bucket, yet not "
                      "served from the local cache",
                      f.key.c_str());
        return send_error(r, ErrorCode::unknown);
    }
    stat_add(f.goal == Goal::built ? Stat::built : Stat::tag_hits);
    return rc;
}

ngx_int_t image_manifest_done(ngx_http_request_t* r, Fetch& f)
{
    if (f.status == NGX_HTTP_NOT_FOUND && f.reached) {
        // The helper publishes the index entry last: its manifest is gone.
        return image_miss(r, f);
    }
    if (f.status != NGX_HTTP_OK) {
        return unavailable(r, f);
    }
    if (f.body.size() != f.manifest_size || sha256_hex(f.body) != f.hex) {
        return corrupt(r, f);
    }
    publish_file(storage_root(r), manifest_path(f.kind, f.hex), f.body);
    return image_publish(r, f);
}

ngx_int_t image_index_done(ngx_http_request_t* r, Fetch& f)
{
    if (f.status == NGX_HTTP_NOT_FOUND && f.reached) {
        return image_miss(r, f);
    }
    if (f.status != NGX_HTTP_OK) {
        return unavailable(r, f);
    }
    std::optional<IndexEntry> entry = parse_index_entry(f.body);
    if (!entry) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "nixery: malformed index entry %s in the bucket",
                      f.key.c_str());
        return image_miss(r, f);
    }
    if (entry->expired(ngx_time())) {
        // Served while it is rebuilt (tag.c++), when it can be rebuilt.
        std::int64_t stale_max = loc_conf(r)->stale_max;
        if (f.goal != Goal::image || !queue_enabled() || stale_max <= 0 ||
            ngx_time() >= entry->expires + stale_max) {
            return image_miss(r, f);
        }
        f.stale = true;
    }
    f.index_text = std::move(f.body);
    f.kind = requested_manifests(r).kind(entry->has_lists());
    f.hex = entry->hex(f.kind);
    f.manifest_size = entry->size(f.kind);
    std::string path = manifest_path(f.kind, f.hex);
    if (stored_file_exists(r, path)) {
        return image_publish(r, f);
    }
    return start(r, f, std::move(path), image_manifest_done);
}

ngx_int_t fetch_image(ngx_http_request_t* r, Goal goal,
                      const ImageRequest* request, std::string_view key)
{
    Fetch* f = new_fetch(r, goal);
    if (f == nullptr) {
        return NGX_ERROR;
    }
    f->key = std::string(key);
    if (request != nullptr) {
        f->request = *request;
    }
    return start(r, *f, index_path(key), image_index_done);
}

// --- Manifests by digest --------------------------------------------------

ngx_int_t manifest_done(ngx_http_request_t* r, Fetch& f)
{
    if (f.status == NGX_HTTP_NOT_FOUND && f.reached) {
        // The next kind that may hold it (all_manifest_kinds' order).
        const ManifestKind* k = std::find(std::begin(all_manifest_kinds),
                                          std::end(all_manifest_kinds), f.kind);
        if (k != std::end(all_manifest_kinds) &&
            ++k != std::end(all_manifest_kinds)) {
            f.kind = *k;
            return start(r, f, manifest_path(f.kind, f.hex), manifest_done);
        }
        return send_error(r, ErrorCode::manifest_unknown);
    }
    if (f.status != NGX_HTTP_OK) {
        return unavailable(r, f);
    }
    if (sha256_hex(f.body) != f.hex) {
        return corrupt(r, f);
    }
    publish_file(storage_root(r), manifest_path(f.kind, f.hex), f.body);
    ngx_int_t rc = serve_stored_manifest(r, f.hex);
    return rc != NGX_DECLINED ? rc : send_error(r, ErrorCode::unknown);
}

// --- Blobs ----------------------------------------------------------------

// The registry's headers for blob `hex`: ETag and Docker-Content-Digest
// (the digest), the API version, application/octet-stream.
ngx_int_t blob_headers(ngx_http_request_t* r, std::string_view hex,
                       bool content_type)
{
    static constexpr std::string_view prefix = "\"sha256:";
    std::size_t len = prefix.size() + hex.size() + 1;
    auto* etag = static_cast<u_char*>(ngx_pnalloc(r->pool, len));
    if (etag == nullptr) {
        return NGX_ERROR;
    }
    u_char* last = ngx_cpymem(etag, prefix.data(), prefix.size());
    last = ngx_cpymem(last, hex.data(), hex.size());
    *last = '"';
    if (content_type) {
        r->headers_out.etag = add_header(r, ngx_string("ETag"), {len, etag});
        if (r->headers_out.etag == nullptr) {
            return NGX_ERROR;
        }
        r->headers_out.content_type.len = media::blob.size();
        r->headers_out.content_type.data =
            reinterpret_cast<u_char*>(const_cast<char*>(media::blob.data()));
        r->headers_out.content_type_len = media::blob.size();
        r->headers_out.content_type_lowcase = nullptr;
    }
    if (add_header(r, ngx_string("Docker-Content-Digest"),
                   {len - 2, etag + 1}) == nullptr) {
        return NGX_ERROR;
    }
    return add_api_version_header(r);
}

ngx_int_t blob_head_done(ngx_http_request_t* r, Fetch& f)
{
    if (f.status == NGX_HTTP_NOT_FOUND && f.reached) {
        return send_error(r, ErrorCode::blob_unknown);
    }
    if (f.status != NGX_HTTP_OK || f.length < 0) {
        return unavailable(r, f);
    }
    if (blob_headers(r, f.hex, true) != NGX_OK) {
        return NGX_ERROR;
    }
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = f.length;
    r->header_only = 1;
    return ngx_http_send_header(r);
}

// 307 to a presigned URL: the client downloads from the bucket. (Nixery
// answers 303; 307 is what the reference registry sends for its storage
// redirects, and it keeps the method.)
ngx_int_t redirect_blob(ngx_http_request_t* r, std::string_view hex)
{
    const BucketConf& bcf = loc_conf(r)->bucket;
    const std::string& url =
        bcf.signer->redirect_url(blob_path(hex), ngx_time(), bcf.redirect_ttl);
    auto* p = static_cast<u_char*>(ngx_pnalloc(r->pool, url.size()));
    if (p == nullptr) {
        return NGX_ERROR;
    }
    ngx_memcpy(p, url.data(), url.size());
    r->headers_out.location =
        add_header(r, ngx_string("Location"), {url.size(), p});
    if (r->headers_out.location == nullptr ||
        blob_headers(r, hex, false) != NGX_OK) {
        return NGX_ERROR;
    }
    r->headers_out.status = NGX_HTTP_TEMPORARY_REDIRECT;
    r->headers_out.content_length_n = 0;
    ngx_int_t rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }
    return ngx_http_send_special(r, NGX_HTTP_LAST);
}

// The internal location answers (proxy_cache keeps the blob on this
// host); the header filter in bucket_conf.c++ gives it the registry's
// headers. A HEAD goes there as a header-only GET: the presigned URL is
// signed for what is sent upstream, and proxy_cache sends GET anyway.
ngx_int_t proxy_blob(ngx_http_request_t* r, std::string_view hex)
{
    const ngx_str_t& location = loc_conf(r)->bucket.location;
    std::string key = blob_path(hex);
    ngx_str_t uri;
    uri.len = location.len + key.size();
    uri.data = static_cast<u_char*>(ngx_pnalloc(r->pool, uri.len));
    if (uri.data == nullptr) {
        return NGX_ERROR;
    }
    ngx_memcpy(ngx_cpymem(uri.data, location.data, location.len), key.data(),
               key.size());
    if (r->method == NGX_HTTP_HEAD) {
        r->method = NGX_HTTP_GET;
        ngx_str_set(&r->method_name, "GET");
        r->header_only = 1;
    }
    return ngx_http_internal_redirect(r, &uri, nullptr);
}

} // namespace

ngx_int_t bucket_serve_blob(ngx_http_request_t* r,
                            std::string_view hex) noexcept
try {
    if (loc_conf(r)->bucket.blobs == bucket_blobs_proxy) {
        return proxy_blob(r, hex);
    }
    if (r->method != NGX_HTTP_HEAD) {
        return redirect_blob(r, hex);
    }
    Fetch* f = new_fetch(r, Goal::blob_head);
    if (f == nullptr) {
        return NGX_ERROR;
    }
    f->hex = std::string(hex);
    return start(r, *f, blob_path(hex), blob_head_done, true);
} catch (const std::exception& e) {
    return fail_request(r, "serving a blob from the bucket", e.what());
} catch (...) {
    return fail_request(r, "serving a blob from the bucket",
                        "unknown exception");
}

ngx_int_t bucket_fetch_manifest(ngx_http_request_t* r,
                                std::string_view hex) noexcept
try {
    Fetch* f = new_fetch(r, Goal::manifest);
    if (f == nullptr) {
        return NGX_ERROR;
    }
    f->hex = std::string(hex);
    f->kind = ManifestKind::docker;
    return start(r, *f, manifest_path(f->kind, hex), manifest_done);
} catch (const std::exception& e) {
    return fail_request(r, "fetching a manifest from the bucket", e.what());
} catch (...) {
    return fail_request(r, "fetching a manifest from the bucket",
                        "unknown exception");
}

ngx_int_t bucket_fetch_image(ngx_http_request_t* r, const ImageRequest& request,
                             std::string_view key) noexcept
try {
    return fetch_image(r, Goal::image, &request, key);
} catch (const std::exception& e) {
    return fail_request(r, "fetching an image from the bucket", e.what(), key);
} catch (...) {
    return fail_request(r, "fetching an image from the bucket",
                        "unknown exception", key);
}

ngx_int_t bucket_fetch_built(ngx_http_request_t* r,
                             std::string_view key) noexcept
try {
    return fetch_image(r, Goal::built, nullptr, key);
} catch (const std::exception& e) {
    return fail_request(r, "fetching a built image from the bucket", e.what(),
                        key);
} catch (...) {
    return fail_request(r, "fetching a built image from the bucket",
                        "unknown exception", key);
}

} // namespace nixery
