// Google Cloud Storage V4 signed URLs (GOOG4-RSA-SHA256) made with a
// service account's key: what the module redirects a blob request to when
// the blobs live in a GCS bucket, and what the helper uploads with.
//
// The canonical request is SigV4's (sigv4.h) with X-Goog-* parameters and
// scope "<date>/auto/storage/goog4_request"; the string to sign is signed
// with RSASSA-PKCS1-v1_5 / SHA-256 through OpenSSL's EVP, and the signature
// goes into the URL as lowercase hex. Pure computation: the key file is read
// once by GcsSigner::from_key_file(), then no I/O, no clock, no network.
//
// Errors name the key file, never the private key.
#pragma once

#include "sigv4.h"

#include <cstdint>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

inline constexpr std::string_view gcs_algorithm = "GOOG4-RSA-SHA256";
inline constexpr std::string_view gcs_default_endpoint =
    "https://storage.googleapis.com";

// A key that cannot be used: unreadable file, not JSON, fields missing,
// not an RSA private key. The message names the file (or "<json>").
class GcsKeyError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A service account: its e-mail and RSA private key. Immutable once loaded;
// signing from several threads at once is fine.
class GcsSigner {
  public:
    // A service-account JSON key file ("client_email", "private_key").
    static GcsSigner from_key_file(const std::string& path);
    // The same from the file's text; `origin` names it in errors.
    static GcsSigner from_json(std::string_view json,
                               std::string_view origin = "<json>");

    GcsSigner(GcsSigner&&) noexcept;
    GcsSigner& operator=(GcsSigner&&) noexcept;
    ~GcsSigner();

    const std::string& client_email() const { return client_email_; }
    // Lowercase hex RSASSA-PKCS1-v1_5 SHA-256 signature of `data`.
    std::string sign_hex(std::string_view data) const;

  private:
    struct Key;
    GcsSigner(std::string client_email, std::unique_ptr<Key> key);
    std::string client_email_;
    std::unique_ptr<Key> key_;
};

enum class GcsUrlStyle {
    path,           // <endpoint>/<bucket>/<object>
    virtual_hosted, // <scheme>://<bucket>.<endpoint host>/<object>
    bucket_bound,   // <endpoint>/<object>: the endpoint is the bucket's
                    // own hostname (a CNAME or a load balancer)
};

struct GcsUrlRequest {
    std::string method = "GET";
    std::string bucket;
    std::string object; // raw; empty: the bucket itself (listing)
    std::time_t now = 0;
    std::int64_t expires = 0; // seconds, 1..604800
    // "<scheme>://<host>[:<port>]"; "https://" when the scheme is left out.
    std::string endpoint = std::string(gcs_default_endpoint);
    GcsUrlStyle style = GcsUrlStyle::path;
    // Extension headers the request will carry (Host is added): they are
    // signed, so the client must send them as given.
    std::vector<Header> headers;
    std::vector<QueryParam> query; // extra query parameters, raw
    // Empty: the value of an x-goog-content-sha256 header when there is
    // one, else UNSIGNED-PAYLOAD.
    std::string payload_hash;
};

struct GcsSignedUrl {
    std::string canonical_request;
    std::string string_to_sign;
    std::string signature; // lowercase hex
    std::string url;
};

// Throws std::invalid_argument on a bad request (no bucket, expiry out of
// range, a bad endpoint, X-Goog-* parameters already given).
GcsSignedUrl gcs_signed_url(const GcsSigner& signer,
                            const GcsUrlRequest& request);

} // namespace nixery
