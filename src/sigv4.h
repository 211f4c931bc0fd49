// Request signing for S3-compatible buckets: AWS Signature Version 4
// (AWS4-HMAC-SHA256), in the Authorization header form (the helper's
// uploads) and the presigned query form (the module's redirects to a
// bucket). Pure computation with OpenSSL: no clock, no network, no I/O.
//
// The pieces shared with Google's V4 signing (gcs_sign.h) live here too:
// RFC 3986 percent-encoding, canonical query strings and headers, and the
// timestamps. Signing many URLs a second is cheap because the signing key is
// derived once per day (SigV4KeyCache) and each URL then costs two SHA-256
// and one HMAC.
//
// Secrets (the secret access key, the derived key, the session token) never
// appear in an exception message; the access key id may.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

// --- Canonical forms shared by SigV4 and GCS V4 -------------------------

// Percent-encode everything but RFC 3986's unreserved characters
// (A-Z a-z 0-9 - . _ ~), bytes as %XX with uppercase hex digits. With
// keep_slash, '/' stays as is (paths: each segment encoded once).
std::string uri_encode(std::string_view s, bool keep_slash = false);

// Undo %XX escapes (malformed escapes are kept as they are); '+' stays '+'.
std::string uri_decode(std::string_view s);

// RFC 3986 dot-segment removal plus merging of empty segments ("//"), the
// path normalisation of services other than S3. Always starts with '/'.
std::string normalize_uri_path(std::string_view path);

struct QueryParam {
    std::string name; // raw (not encoded)
    std::string value;
};

// name=value pairs, each side encoded with uri_encode(), sorted by encoded
// name then encoded value, joined with '&'. A name without value is "name=".
std::string canonical_query(const std::vector<QueryParam>& params);

struct Header {
    std::string name;
    std::string value;
};

struct CanonicalHeaders {
    std::string block; // "name:value\n" per header, sorted by name
    std::string names; // names joined with ';'
};

// Names lowercased; values trimmed with inner runs of whitespace (space,
// tab, CR, LF: folded lines too) collapsed to one space; the values of a
// name given several times joined with ',' in the order given.
CanonicalHeaders canonical_headers(const std::vector<Header>& headers);

// Trim and collapse one header value as canonical_headers() does.
std::string canonical_header_value(std::string_view value);

// "YYYYMMDDTHHMMSSZ" and "YYYYMMDD" of a UTC time.
std::string iso8601_basic(std::time_t t);
std::string iso8601_date(std::time_t t);

std::string to_hex(const unsigned char* data, std::size_t size);

// --- AWS Signature Version 4 --------------------------------------------

inline constexpr std::string_view sigv4_algorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view unsigned_payload = "UNSIGNED-PAYLOAD";
// Presigned URLs live at most 7 days (S3 and GCS alike).
inline constexpr std::int64_t max_presign_expires = 604800;

struct AwsCredentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token; // empty: none
};

// The signing key of one day, region and service:
//   HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
//        "aws4_request")
// with what the signatures built from it need. The derived key is wiped
// when the object goes.
class SigV4Key {
  public:
    SigV4Key(const AwsCredentials& credentials, std::string_view date,
             std::string_view region, std::string_view service);
    ~SigV4Key();
    SigV4Key(const SigV4Key& other);
    SigV4Key& operator=(const SigV4Key& other);

    const std::string& access_key_id() const { return access_key_id_; }
    const std::string& session_token() const { return session_token_; }
    const std::string& date() const { return date_; }
    const std::string& region() const { return region_; }
    const std::string& service() const { return service_; }
    // "<date>/<region>/<service>/aws4_request"
    std::string scope() const;
    // Lowercase hex HMAC-SHA256 of `data` with the derived key.
    std::string sign(std::string_view data) const;

  private:
    std::string access_key_id_;
    std::string session_token_;
    std::string date_;
    std::string region_;
    std::string service_;
    std::array<unsigned char, 32> key_{};
};

// Holds the key of the current day and derives a new one when the day
// changes: the module signs with key_for(now) on every redirect. Not
// thread-safe (one per nginx worker, or one per helper thread).
class SigV4KeyCache {
  public:
    SigV4KeyCache(AwsCredentials credentials, std::string region,
                  std::string service);
    ~SigV4KeyCache();
    SigV4KeyCache(const SigV4KeyCache&) = delete;
    SigV4KeyCache& operator=(const SigV4KeyCache&) = delete;

    const SigV4Key& key_for(std::time_t now);
    // How many keys were derived so far (tests, counters).
    std::uint64_t derivations() const { return derivations_; }

  private:
    AwsCredentials credentials_;
    std::string region_;
    std::string service_;
    std::vector<SigV4Key> current_; // zero or one
    std::uint64_t derivations_ = 0;
};

struct SigV4Request {
    std::string method;            // "GET", "PUT", ...
    std::string path;              // raw (decoded), starts with '/'
    std::vector<QueryParam> query; // raw names and values
    std::vector<Header> headers;   // must hold Host
    // Lowercase hex SHA-256 of the body (sha256_hex() in digest.h), or
    // UNSIGNED-PAYLOAD (S3 presigned URLs, streamed uploads).
    std::string payload_hash = std::string(unsigned_payload);
};

struct SigV4Options {
    // Services other than S3 normalise the path (normalize_uri_path())...
    bool normalize_path = false;
    // ...and encode the already encoded path once more. S3 does neither:
    // its canonical path is the raw path with each segment encoded once.
    bool double_encode = false;
    // Header form: add and sign x-amz-content-sha256 (S3 requires it).
    bool add_content_sha256 = false;
    // Add the session token after signing, unsigned (a few services ask
    // for that); by default it is signed.
    bool token_after_signing = false;
};

struct SigV4Result {
    std::string canonical_request;
    std::string string_to_sign;
    std::string signature; // lowercase hex
    // Header form: the headers to add to the request, in this order
    // (X-Amz-Security-Token, X-Amz-Date, x-amz-content-sha256,
    // Authorization); those the request already has are not repeated.
    std::vector<Header> headers;
    // Query form: the whole query string of the presigned URL (the
    // request's parameters and the X-Amz-* ones, encoded, without '?').
    std::string query;
};

// The canonical URI of a raw path under `options` (S3 by default).
std::string sigv4_canonical_path(std::string_view path,
                                 const SigV4Options& options = {});

// Authorization header form, signed at `now` (which must fall on the key's
// date). The request's own X-Amz-Date or x-amz-content-sha256, when given,
// must agree with `now` and payload_hash. Throws std::invalid_argument.
SigV4Result sigv4_sign_headers(const SigV4Request& request, const SigV4Key& key,
                               std::time_t now,
                               const SigV4Options& options = {});

// Presigned query form, valid `expires` seconds (1..604800) from `now`.
// Throws std::invalid_argument.
SigV4Result sigv4_presign(const SigV4Request& request, const SigV4Key& key,
                          std::time_t now, std::int64_t expires,
                          const SigV4Options& options = {});

// "<scheme>://<host><encoded path>?<query>" of a presigned request; the
// host is the request's Host header.
std::string sigv4_presigned_url(std::string_view scheme,
                                const SigV4Request& request,
                                const SigV4Result& presigned);

} // namespace nixery
