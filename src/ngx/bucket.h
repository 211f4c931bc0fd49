// Serving images that live in an S3 or GCS bucket (`nixery_bucket`,
// docs/directives.md), without ever blocking a worker: every contact with
// the bucket goes through nginx's own machinery, a subrequest or an
// internal redirect into an `internal` location that the configuration
// declares with `proxy_pass $nixery_bucket_url` (the presigned URL of the
// object named by the location's URI, signed here: pure CPU).
//
// The `nixery_storage` directory is then the host's local cache:
//
// - manifests (by tag and by digest) and index entries are looked up there
//   first, with today's rules; a miss fetches the object into memory (an
//   in-memory subrequest), checks it, writes it there atomically and serves
//   it through the file path (serve.h). An index entry the bucket does not
//   have is a build miss: the build queue (queue.h), then a new fetch when
//   the helper announces the image.
// - blobs are never kept there: `nixery_bucket_blobs redirect` answers GET
//   with a 307 to a presigned URL and HEAD from a header-only subrequest;
//   `proxy` hands the request to the internal location (proxy_cache keeps
//   them on the host's disk) and a header filter gives the answer the
//   registry's headers, or its JSON error.
//
// A bucket that cannot be reached or fails (5xx, 403...) costs only what
// is not cached: those requests get 503 UNAVAILABLE at once, logged with
// the object's key and what the bucket answered.
#pragma once

#include "ngx/ngx.h"

#include "image_request.h"

#include <string_view>

namespace nixery {

class BucketSigner;

// `nixery_bucket s3|gcs NAME [endpoint=URL] [region=R] [path_style=on|off]`
// as written (or `off`), from the configuration pool.
struct BucketSpec {
    ngx_uint_t kind; // bucket_off, bucket_s3, bucket_gcs
    ngx_str_t name;
    ngx_str_t endpoint;   // empty: the service's own
    ngx_str_t region;     // empty: us-east-1
    ngx_int_t path_style; // -1: the default for the endpoint
};
inline constexpr ngx_uint_t bucket_off = 0;
inline constexpr ngx_uint_t bucket_s3 = 1;
inline constexpr ngx_uint_t bucket_gcs = 2;

inline constexpr ngx_uint_t bucket_blobs_redirect = 1;
inline constexpr ngx_uint_t bucket_blobs_proxy = 2;

// The bucket directives' values in a location configuration (module.h).
struct BucketConf {
    BucketSpec* spec;      // nixery_bucket; nullptr: unset
    ngx_str_t credentials; // nixery_bucket_credentials (absolute)
    ngx_uint_t blobs;      // nixery_bucket_blobs
    time_t redirect_ttl;   // nixery_bucket_redirect_ttl, seconds
    ngx_str_t location;    // nixery_bucket_location, ends with '/'
    BucketSigner* signer;  // nullptr: filesystem storage
};

// Directive handlers (cmd->offset: the BucketConf in the location conf).
char* bucket_set(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept;
char* bucket_set_credentials(ngx_conf_t* cf, ngx_command_t* cmd,
                             void* conf) noexcept;
char* bucket_set_location(ngx_conf_t* cf, ngx_command_t* cmd,
                          void* conf) noexcept;
extern ngx_conf_enum_t bucket_blobs_modes[];

// create_loc_conf / merge_loc_conf. The merge reads the credentials file
// (once per place it is set) and makes the signer; `nginx -t` fails there,
// naming the setting, when the file is missing, unreadable or incomplete.
void bucket_conf_create(BucketConf* conf) noexcept;
char* bucket_conf_merge(ngx_conf_t* cf, BucketConf* prev,
                        BucketConf* conf) noexcept;

// preconfiguration: $nixery_bucket_url, $nixery_bucket_key.
ngx_int_t bucket_add_variables(ngx_conf_t* cf) noexcept;
// postconfiguration: the header and body filters of proxied blobs.
ngx_int_t bucket_init_filters(ngx_conf_t* cf) noexcept;

// Whether this request's location serves from a bucket.
bool bucket_enabled(ngx_http_request_t* r) noexcept;

// GET|HEAD /v2/<name>/blobs/sha256:<hex> in bucket mode.
ngx_int_t bucket_serve_blob(ngx_http_request_t* r,
                            std::string_view hex) noexcept;

// A manifest by digest that the local cache does not hold: fetch it (the
// Docker kind first, then OCI), keep it, serve it; 404 when the bucket has
// neither. Returns a content handler's result (NGX_DONE while fetching).
ngx_int_t bucket_fetch_manifest(ngx_http_request_t* r,
                                std::string_view hex) noexcept;

// A manifest by tag that the local cache cannot serve: fetch the index
// entry and the manifest it names, keep them, serve. An index entry the
// bucket does not have (or an expired one) goes to the build queue with
// `request`.
ngx_int_t bucket_fetch_image(ngx_http_request_t* r, const ImageRequest& request,
                             std::string_view key) noexcept;

// The same for a request that waited for a build the helper announced
// (queue.h): a miss now is the "announced but not in storage" error.
ngx_int_t bucket_fetch_built(ngx_http_request_t* r,
                             std::string_view key) noexcept;

// The module's context of a request in bucket mode (ngx_http_get_module_ctx):
// the fetch in progress (bucket_fetch.c++), or the JSON error that replaces
// a proxied blob's answer (bucket_conf.c++).
struct BucketCtx {
    void* fetch;     // the Fetch being run for this request
    ngx_str_t error; // the replacing body; data nullptr: none
    bool error_sent;
};

// The request's context, made on first use; nullptr when out of memory.
BucketCtx* bucket_ctx(ngx_http_request_t* r) noexcept;

} // namespace nixery
