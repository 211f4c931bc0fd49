#include "ngx/serve.h"

#include "ngx/module.h"
#include "ngx/response.h"
#include "ngx/worker.h"

#include "index_cache.h"
#include "media_types.h"
#include "routes.h"
#include "storage_layout.h"

#include <algorithm>
#include <exception>
#include <string>
#include <vector>

namespace nixery {

namespace {

enum class Opened { ok, missing, failed };

// "<storage root>/<relative>", NUL-terminated, in r->pool.
bool storage_path(ngx_http_request_t* r, std::string_view relative,
                  ngx_str_t& out) noexcept
{
    const ngx_str_t& root = loc_conf(r)->storage;
    std::size_t len = root.len + 1 + relative.size();
    auto* p = static_cast<u_char*>(ngx_pnalloc(r->pool, len + 1));
    if (p == nullptr) {
        return false;
    }
    u_char* last = ngx_cpymem(p, root.data, root.len);
    *last++ = '/';
    last = ngx_cpymem(last, relative.data(), relative.size());
    *last = '\0';
    out.data = p;
    out.len = len;
    return true;
}

bool is_missing(ngx_err_t err) noexcept
{
    return err == NGX_ENOENT || err == NGX_ENOTDIR || err == NGX_ENAMETOOLONG;
}

ngx_int_t open_with(ngx_http_request_t* r, ngx_open_file_cache_t* cache,
                    ngx_str_t& path, ngx_open_file_info_t& of) noexcept
{
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(
        ngx_http_get_module_loc_conf(r, ngx_http_core_module));
    ngx_memzero(&of, sizeof(ngx_open_file_info_t));
    of.read_ahead = clcf->read_ahead;
    of.directio = clcf->directio;
    of.valid = clcf->open_file_cache_valid;
    of.min_uses = clcf->open_file_cache_min_uses;
    of.errors = clcf->open_file_cache_errors;
    of.events = clcf->open_file_cache_events;
    if (ngx_http_set_disable_symlinks(r, clcf, &path, &of) != NGX_OK) {
        return NGX_ERROR;
    }
    return ngx_open_cached_file(cache, &path, &of, r->pool);
}

// Open a stored file like ngx_http_static_module does. The helper publishes
// files while nginx runs, so a "not found" remembered by open_file_cache
// (open_file_cache_errors on) is checked again without the cache.
Opened open_stored(ngx_http_request_t* r, ngx_str_t& path,
                   ngx_open_file_info_t& of) noexcept
{
    auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(
        ngx_http_get_module_loc_conf(r, ngx_http_core_module));
    ngx_int_t rc = open_with(r, clcf->open_file_cache, path, of);
    if (rc != NGX_OK && clcf->open_file_cache != nullptr &&
        is_missing(of.err)) {
        rc = open_with(r, nullptr, path, of);
    }
    if (rc != NGX_OK) {
        if (of.err == 0) {
            return Opened::failed;
        }
        if (is_missing(of.err)) {
            return Opened::missing;
        }
        ngx_log_error(NGX_LOG_ERR, r->connection->log, of.err,
                      "nixery: %s \"%s\" failed", of.failed, path.data);
        return Opened::failed;
    }
    if (!of.is_file) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "nixery: \"%s\" is not a regular file", path.data);
        return Opened::failed;
    }
    return Opened::ok;
}

// Send an opened file with the registry's headers. The ETag is the quoted
// digest: content-addressed files never change, and identical rebuilds on
// another host give the same tag.
ngx_int_t send_file(ngx_http_request_t* r, ngx_str_t& path,
                    ngx_open_file_info_t& of, std::string_view content_type,
                    std::string_view hex) noexcept
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

    r->root_tested = !r->error_page;
    r->allow_ranges = 1;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = of.size;
    r->headers_out.last_modified_time = of.mtime;
    r->headers_out.content_type.len = content_type.size();
    r->headers_out.content_type.data =
        reinterpret_cast<u_char*>(const_cast<char*>(content_type.data()));
    r->headers_out.content_type_len = content_type.size();
    r->headers_out.content_type_lowcase = nullptr;

    r->headers_out.etag = add_header(r, ngx_string("ETag"), {len, etag});
    if (r->headers_out.etag == nullptr ||
        add_header(r, ngx_string("Docker-Content-Digest"),
                   {len - 2, etag + 1}) == nullptr ||
        add_api_version_header(r) != NGX_OK) {
        return NGX_ERROR;
    }

    if (r != r->main && of.size == 0) {
        return ngx_http_send_header(r);
    }

    auto* b = static_cast<ngx_buf_t*>(ngx_calloc_buf(r->pool));
    if (b == nullptr) {
        return NGX_ERROR;
    }
    b->file =
        static_cast<ngx_file_t*>(ngx_pcalloc(r->pool, sizeof(ngx_file_t)));
    if (b->file == nullptr) {
        return NGX_ERROR;
    }

    ngx_int_t rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->file_pos = 0;
    b->file_last = of.size;
    b->in_file = b->file_last ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    b->sync = (b->last_buf || b->in_file) ? 0 : 1;
    b->file->fd = of.fd;
    b->file->name = path;
    b->file->log = r->connection->log;
    b->file->directio = of.is_directio;

    ngx_chain_t out = {b, nullptr};
    return ngx_http_output_filter(r, &out);
}

// Every Accept header line (skopeo sends one per media type, containerd
// one comma-joined list).
std::vector<std::string_view> accept_lines(ngx_http_request_t* r)
{
    std::vector<std::string_view> lines;
    lines.reserve(8); // skopeo sends six: one allocation, no regrowth
    ngx_list_part_t* part = &r->headers_in.headers.part;
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
        if (h[i].key.len == 6 &&
            ngx_strncasecmp(h[i].key.data, (u_char*)"accept", 6) == 0) {
            lines.emplace_back(reinterpret_cast<char*>(h[i].value.data),
                               h[i].value.len);
        }
    }
    return lines;
}

enum class IndexRead { ok, missing, failed };

// Read index/<kk>/<key> without open_file_cache: entries are replaced when
// they expire, and a cached descriptor of the old one would hide the new.
IndexRead read_index(ngx_http_request_t* r, std::string_view key,
                     std::string& text)
{
    ngx_str_t path;
    if (!storage_path(r, index_path(key), path)) {
        return IndexRead::failed;
    }
    ngx_fd_t fd = ngx_open_file(path.data, NGX_FILE_RDONLY | NGX_FILE_NONBLOCK,
                                NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_err_t err = ngx_errno;
        if (is_missing(err)) {
            return IndexRead::missing;
        }
        ngx_log_error(NGX_LOG_ERR, r->connection->log, err,
                      "nixery: " ngx_open_file_n " \"%s\" failed", path.data);
        return IndexRead::failed;
    }
    // One byte more than the largest valid entry tells "too long" apart.
    u_char buf[max_index_entry_size + 1];
    ssize_t n = ngx_read_fd(fd, buf, sizeof buf);
    ngx_err_t err = ngx_errno;
    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      "nixery: " ngx_close_file_n " \"%s\" failed", path.data);
    }
    if (n < 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, err,
                      "nixery: " ngx_read_fd_n " \"%s\" failed", path.data);
        return IndexRead::failed;
    }
    text.assign(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
    return IndexRead::ok;
}

ngx_int_t internal_error(ngx_http_request_t* r, std::string_view detail = {})
{
    return send_error(r, ErrorCode::unknown, detail);
}

} // namespace

ngx_int_t serve_referrers(ngx_http_request_t* r) noexcept
{
    std::string_view args(reinterpret_cast<char*>(r->args.data), r->args.len);
    if (query_has_param(args, "artifactType") &&
        add_header(r, ngx_string("OCI-Filters-Applied"),
                   ngx_string("artifactType")) == nullptr) {
        return NGX_ERROR;
    }
    return send_json(r, NGX_HTTP_OK, referrers_json(), media::oci_index);
}

ngx_int_t serve_blob(ngx_http_request_t* r, std::string_view hex) noexcept
try {
    ngx_str_t path;
    ngx_open_file_info_t of;
    if (!storage_path(r, blob_path(hex), path)) {
        return NGX_ERROR;
    }
    switch (open_stored(r, path, of)) {
    case Opened::ok:
        return send_file(r, path, of, media::blob, hex);
    case Opened::missing:
        return send_error(r, ErrorCode::blob_unknown);
    case Opened::failed:
        break;
    }
    return internal_error(r);
} catch (const std::exception& e) {
    return fail_request(r, "serving a blob", e.what());
} catch (...) {
    return fail_request(r, "serving a blob", "unknown exception");
}

ngx_int_t serve_manifest_by_digest(ngx_http_request_t* r,
                                   std::string_view hex) noexcept
{
    ngx_int_t rc = serve_stored_manifest(r, hex);
    if (rc != NGX_DECLINED) {
        return rc;
    }
    return send_error(r, ErrorCode::manifest_unknown);
}

ManifestChoice requested_manifests(ngx_http_request_t* r)
{
    return choose_manifests(accept_lines(r));
}

bool stored_file_exists(ngx_http_request_t* r, std::string_view relative)
{
    ngx_str_t path;
    if (!storage_path(r, relative, path)) {
        return false;
    }
    ngx_file_info_t fi;
    return ngx_file_info(path.data, &fi) != NGX_FILE_ERROR;
}

ngx_int_t serve_stored_manifest(ngx_http_request_t* r,
                                std::string_view hex) noexcept
try {
    for (ManifestKind kind : all_manifest_kinds) {
        ngx_str_t path;
        ngx_open_file_info_t of;
        if (!storage_path(r, manifest_path(kind, hex), path)) {
            return NGX_ERROR;
        }
        switch (open_stored(r, path, of)) {
        case Opened::ok:
            return send_file(r, path, of, manifest_media_type(kind), hex);
        case Opened::missing:
            continue;
        case Opened::failed:
            return internal_error(r);
        }
    }
    return NGX_DECLINED;
} catch (const std::exception& e) {
    return fail_request(r, "serving a manifest by digest", e.what());
} catch (...) {
    return fail_request(r, "serving a manifest by digest", "unknown exception");
}

namespace {

enum class Lookup { found, missing, failed };

// The index cache key, "<root>/<key>": entries are per storage root, as
// locations may use different ones. On the stack for any sane root (this
// runs for every manifest served by tag).
class CacheKey {
  public:
    CacheKey(const ngx_str_t& root, std::string_view key)
    {
        if (root.len + 1 + key.size() <= sizeof buf_) {
            char* p = std::copy_n(root.data, root.len, buf_);
            *p++ = '/';
            p = std::copy(key.begin(), key.end(), p);
            view_ = std::string_view(buf_, static_cast<std::size_t>(p - buf_));
        } else {
            long_.assign(reinterpret_cast<char*>(root.data), root.len);
            long_.push_back('/');
            long_ += key;
            view_ = long_;
        }
    }
    CacheKey(const CacheKey&) = delete;
    CacheKey& operator=(const CacheKey&) = delete;
    operator std::string_view() const noexcept { return view_; }

  private:
    char buf_[1024];
    std::string long_;
    std::string_view view_;
};

// Finds the index entry for `key`: from this worker's cache unless `fresh`
// (no copy), else the one on disk parsed into `storage` (and then
// remembered). `entry` points at it until the next call into the cache.
// An entry expired less than `stale_max` seconds ago is found too, with
// `stale` set, and not remembered: the cache never holds an expired entry.
Lookup lookup_entry(ngx_http_request_t* r, std::string_view key,
                    std::string_view cache_key, bool fresh, IndexEntry& storage,
                    const IndexEntry*& entry, std::int64_t stale_max = 0,
                    bool* stale = nullptr)
{
    IndexCache* cache = nullptr;
    if (WorkerState* w = worker_state()) {
        cache = &w->index_cache;
    }
    std::int64_t now = ngx_time();
    if (cache != nullptr && !fresh) {
        if (const IndexEntry* cached = cache->find(cache_key, now)) {
            entry = cached;
            return Lookup::found;
        }
    }
    std::string text;
    switch (read_index(r, key, text)) {
    case IndexRead::ok:
        break;
    case IndexRead::missing:
        return Lookup::missing;
    case IndexRead::failed:
        return Lookup::failed;
    }
    std::optional<IndexEntry> parsed = parse_index_entry(text);
    if (!parsed) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "nixery: malformed index entry %*s", key.size(),
                      key.data());
        return Lookup::missing;
    }
    bool expired = parsed->expired(now);
    // expires <= now here, so the sum cannot overflow.
    if (expired && (stale == nullptr || now >= parsed->expires + stale_max)) {
        return Lookup::missing;
    }
    storage = std::move(*parsed);
    if (expired) {
        *stale = true;
    } else if (cache != nullptr) {
        cache->put(cache_key, storage, now);
    }
    entry = &storage;
    return Lookup::found;
}

} // namespace

ngx_int_t serve_from_index(ngx_http_request_t* r, std::string_view key,
                           bool* stale) noexcept
try {
    CacheKey cache_key(loc_conf(r)->storage, key);
    std::int64_t stale_max = loc_conf(r)->stale_max;
    if (stale != nullptr) {
        *stale = false;
        if (stale_max <= 0) {
            stale = nullptr;
        }
    }

    ManifestChoice choice = choose_manifests(accept_lines(r));
    for (bool fresh : {false, true}) {
        IndexEntry storage;
        const IndexEntry* entry = nullptr;
        if (stale != nullptr) {
            *stale = false;
        }
        switch (lookup_entry(r, key, cache_key, fresh, storage, entry,
                             stale_max, stale)) {
        case Lookup::found:
            break;
        case Lookup::missing:
            return NGX_DECLINED;
        case Lookup::failed:
            return internal_error(r);
        }
        ManifestKind kind = choice.kind(entry->has_lists());
        const std::string& hex = entry->hex(kind);
        ngx_str_t path;
        ngx_open_file_info_t of;
        if (!storage_path(r, manifest_path(kind, hex), path)) {
            return NGX_ERROR;
        }
        switch (open_stored(r, path, of)) {
        case Opened::ok:
            break;
        case Opened::missing:
            // A remembered entry may be out of date: read the disk again.
            if (WorkerState* w = worker_state()) {
                w->index_cache.erase(cache_key);
            }
            if (!fresh) {
                continue;
            }
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "nixery: index entry %*s names a missing manifest "
                          "\"%s\"",
                          key.size(), key.data(), path.data);
            return NGX_DECLINED;
        case Opened::failed:
            return internal_error(r);
        }
        if (static_cast<std::uint64_t>(of.size) != entry->size(kind)) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "nixery: \"%s\" has %O bytes, its index entry %*s "
                          "says %uL",
                          path.data, of.size, key.size(), key.data(),
                          static_cast<uint64_t>(entry->size(kind)));
            return internal_error(r,
                                  "stored manifest does not match the index");
        }
        // The response depends on Accept: caches must not mix the flavours.
        if (add_header(r, ngx_string("Vary"), ngx_string("Accept")) ==
            nullptr) {
            return NGX_ERROR;
        }
        return send_file(r, path, of, manifest_media_type(kind), hex);
    }
    return NGX_DECLINED;
} catch (const std::exception& e) {
    return fail_request(r, "serving a manifest by tag", e.what(), key);
} catch (...) {
    return fail_request(r, "serving a manifest by tag", "unknown exception",
                        key);
}

bool index_has_image(ngx_http_request_t* r, std::string_view key) noexcept
try {
    CacheKey cache_key(loc_conf(r)->storage, key);
    IndexEntry storage;
    const IndexEntry* entry = nullptr;
    if (lookup_entry(r, key, cache_key, true, storage, entry) !=
        Lookup::found) {
        return false;
    }
    ManifestKind kind =
        choose_manifests(accept_lines(r)).kind(entry->has_lists());
    ngx_str_t path;
    if (!storage_path(r, manifest_path(kind, entry->hex(kind)), path)) {
        return false;
    }
    ngx_file_info_t fi;
    return ngx_file_info(path.data, &fi) != NGX_FILE_ERROR;
} catch (const std::exception& e) {
    // Sends nothing: the caller decides (a rebuild, then an error answer).
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "nixery: looking up image %*s in storage failed for "
                  "\"%V\": %s",
                  key.size(), key.data(), &r->uri, e.what());
    return false;
} catch (...) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "nixery: looking up image %*s in storage failed for "
                  "\"%V\": unknown exception",
                  key.size(), key.data(), &r->uri);
    return false;
}

} // namespace nixery
