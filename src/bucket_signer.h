// Reading images from an S3 or GCS bucket: what the module needs to sign a
// URL for one object of the storage layout, without nginx headers.
//
// The bucket holds the storage layout's files under their relative paths
// as keys (storage_layout.h: blobs/sha256/<hh>/<hex>,
// manifests/<kind>/<hh>/<hex>, index/<kk>/<key>). The module fetches them
// through nginx's proxy with presigned URLs and redirects blob downloads
// to presigned URLs, so the one thing this code does is turn (method, key,
// time) into such a URL: SigV4 query form for S3 (sigv4.h), a V4 signed URL
// for GCS (gcs_sign.h). Pure CPU once constructed: the credentials are read
// at configuration time, the SigV4 signing key is derived once a day.
//
// is_bucket_key() is the gate: only a key of the layout is ever signed, so
// the module's internal location cannot be made to sign another object.
//
// Secrets never appear in exception messages: errors name the credentials
// file and the setting that is missing or wrong, never a value.
#pragma once

#include "gcs_sign.h"
#include "sigv4.h"
#include "string_hash.h"

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace nixery {

enum class BucketKind { s3, gcs };

// A bad `nixery_bucket` or credentials file; the message says which
// setting, and names the file, never a secret.
class BucketConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct BucketSettings {
    BucketKind kind = BucketKind::s3;
    std::string name;
    // "<scheme>://<host>[:<port>]"; empty: the service's own endpoint
    // (https://s3.<region>.amazonaws.com, https://storage.googleapis.com).
    std::string endpoint;
    std::string region = "us-east-1"; // S3 only
    // URL style: <endpoint>/<bucket>/<key> (on) or
    // <scheme>://<bucket>.<host>/<key> (off). Unset: on with an endpoint
    // (S3-compatible servers) and for GCS, off for AWS itself.
    std::optional<bool> path_style;
};

// "<scheme>://<host>[:<port>]" split into its scheme and authority (the
// Host header's value). Throws BucketConfigError on anything else (a path,
// a query, user info, another scheme than http or https).
struct BucketEndpoint {
    std::string scheme;
    std::string authority;
};
BucketEndpoint parse_bucket_endpoint(std::string_view url);

// AWS credentials from a file of KEY=value lines (blank lines and lines
// starting with '#' are skipped, values may be quoted):
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required,
// AWS_SESSION_TOKEN is optional. `origin` names the file in errors.
AwsCredentials parse_aws_credentials(std::string_view text,
                                     std::string_view origin);

// Whether `key` is a key of the storage layout the module may read:
// blobs/sha256/<hh>/<hex>, manifests/<kind>/<hh>/<hex> (docker, oci,
// docker-list, oci-index) or
// index/<kk>/<key>, with lowercase hex and <hh> the first two digits.
bool is_bucket_key(std::string_view key) noexcept;

// Signs URLs of one bucket. Not thread-safe (the SigV4 key cache): one per
// nginx worker, which a configuration-time object is after fork().
class BucketSigner {
  public:
    // Reads the credentials file (AWS keys for S3, a service-account JSON
    // key for GCS). Throws BucketConfigError.
    BucketSigner(BucketSettings settings, const std::string& credentials_file);
    // The same with the credentials' text (tests).
    static std::unique_ptr<BucketSigner>
    from_text(BucketSettings settings, std::string_view credentials,
              std::string_view origin = "<text>");
    ~BucketSigner();
    BucketSigner(const BucketSigner&) = delete;
    BucketSigner& operator=(const BucketSigner&) = delete;

    const BucketSettings& settings() const noexcept { return settings_; }

    // A presigned URL of `key` for `method` (GET or HEAD), valid `ttl`
    // seconds (1..604800) from `now`. `key` must pass is_bucket_key().
    // Throws std::invalid_argument.
    std::string presigned_url(std::string_view method, std::string_view key,
                              std::time_t now, std::int64_t ttl);

    // The URL a blob GET is redirected to: presigned_url("GET", ...) signed
    // at the start of a window of ttl/10 seconds (at most 60) and kept for
    // that window, so the popular layers of a pull cost a lookup, not a
    // signature. It stays valid at least ttl minus one window; a ttl under
    // 10 s is signed at `now` every time.
    const std::string& redirect_url(std::string_view key, std::time_t now,
                                    std::int64_t ttl);

  private:
    struct Tag {};
    BucketSigner(Tag, BucketSettings settings);
    void load(std::string_view credentials, std::string_view origin);

    BucketSettings settings_;
    BucketEndpoint endpoint_;
    bool path_style_ = true;
    std::unique_ptr<SigV4KeyCache> aws_;
    std::unique_ptr<GcsSigner> gcs_;
    // redirect_url()'s URLs of the current window (and its ttl).
    StringMap<std::string> redirects_;
    std::time_t redirects_start_ = 0;
    std::int64_t redirects_ttl_ = 0;
    std::string uncached_;
};

} // namespace nixery
