// Storage in an object store bucket: what S3 and Google Cloud Storage
// have in common. Both speak the same object API (PUT, GET, HEAD, DELETE
// of an object, ListObjectsV2, multipart uploads) and differ only in how a
// request is addressed and authorised: a BucketSigner turns a request into
// a URL and headers (S3: SigV4 Authorization header, s3.h; GCS: a V4
// signed URL, gcs.h). Everything else lives here once: the HTTP
// connections (one pooled libcurl handle per concurrent caller, kept
// alive), retries with backoff, multipart put_file with bounded memory,
// the XML, and errors that name the status, the service's error code and
// the key, never a secret or a signature.
#pragma once

#include "base/http.h"
#include "storage/storage.h"

#include "sigv4.h"

#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

struct BucketTuning {
    // Attempts per request (the first included) when the answer is a 5xx,
    // a 429, a request timeout or no answer at all.
    int max_attempts = 5;
    // Waits between attempts: random up to first_backoff * 2^(attempt-1),
    // capped at max_backoff.
    std::chrono::milliseconds first_backoff{200};
    std::chrono::milliseconds max_backoff{8000};
    // put_file sends a file larger than this as a multipart upload of parts
    // of this size (S3 and GCS want at least 5 MiB but for the last part),
    // and one PUT otherwise. Memory per upload is one part.
    std::uint64_t part_size = 16u << 20;
    HttpTimeouts timeouts;
    // Called after each part is stored (tests make an upload fail midway).
    std::function<void(int part)> after_part;
};

// One request to the bucket, before it is addressed and signed.
struct BucketRequest {
    std::string method;
    std::string key; // raw object key; empty: the bucket itself (listing)
    std::vector<QueryParam> query;
    std::vector<Header> headers; // beyond what signing adds
    // Lowercase hex SHA-256 of the body; empty: not signed (UNSIGNED-PAYLOAD).
    std::string payload_hash;
};

// How one service addresses and authorises requests. Thread-safe.
class BucketSigner {
  public:
    virtual ~BucketSigner() = default;
    // The method, URL and headers to send at `now` (body and limits are
    // the caller's). Throws StorageError.
    virtual HttpRequest sign(const BucketRequest& request, std::time_t now) = 0;
    // "s3 bucket images at https://...": logs and errors.
    virtual std::string describe() const = 0;
    // Who signs ("access key id AKIA...", "service account x@y"), named in
    // errors the service answers with 401 or 403. Never a secret.
    virtual std::string identity() const = 0;
    // Which setting to look at when the service answers with this error
    // code ("check AWS_SECRET_ACCESS_KEY"); empty when none applies.
    virtual std::string hint(std::string_view code) const = 0;
};

class BucketStorage final : public Storage {
  public:
    BucketStorage(std::unique_ptr<BucketSigner> signer, std::string local_tmp,
                  BucketTuning tuning);
    ~BucketStorage() override;

    std::string describe() const override { return signer_->describe(); }
    const std::string& local_tmp() const override { return local_tmp_; }
    void put(std::string_view key, std::string_view bytes) override;
    void put_file(std::string_view key, const std::string& path) override;
    std::optional<std::string> get(std::string_view key,
                                   std::size_t max) override;
    std::optional<std::uint64_t> size(std::string_view key) override;
    void list(std::string_view prefix,
              const std::function<void(const StoredObject&)>& each) override;
    void remove(std::string_view key) override;

    // One signed request with the retries above; returns the last answer
    // whatever its status. Throws StorageError when no answer came back.
    // Public for tests that look at the bucket beyond the interface
    // (pending multipart uploads).
    HttpResponse send(const BucketRequest& request, std::string_view body = {},
                      std::size_t max_body = 1 << 20);

  private:
    class Lease;
    std::unique_ptr<HttpConnection> take_connection();
    void give_back(std::unique_ptr<HttpConnection> connection);
    // Throws the StorageError for an unexpected answer to `what` on `key`.
    [[noreturn]] void fail(std::string_view what, std::string_view key,
                           const HttpResponse& response) const;
    void put_part_by_part(std::string_view key, int fd, std::uint64_t size);
    void complete_upload(std::string_view key, const std::string& upload_id,
                         const std::vector<std::string>& etags,
                         std::uint64_t size);
    void abort_upload(std::string_view key, const std::string& upload_id);

    std::unique_ptr<BucketSigner> signer_;
    std::string local_tmp_;
    BucketTuning tuning_;
    std::mutex pool_mutex_;
    std::vector<std::unique_ptr<HttpConnection>> idle_;
};

// An endpoint URL's parts: "https://host[:port]" with no path (a trailing
// '/' is dropped); nullopt for anything else.
struct BucketEndpoint {
    std::string scheme; // "http" or "https"
    std::string host;   // host[:port]
};
std::optional<BucketEndpoint> parse_bucket_endpoint(std::string_view url);

// Where bucket backends write files on their way up when no directory is
// configured: $TMPDIR/nixery-storage (or /tmp/...).
std::string default_bucket_local_tmp();

} // namespace nixery
