#include "storage/s3.h"

#include <mutex>
#include <stdexcept>

namespace nixery {

namespace {

class S3Signer final : public BucketSigner {
  public:
    explicit S3Signer(const S3Config& config)
        : config_(config), keys_(config.credentials, config.region, "s3")
    {
    }

    HttpRequest sign(const BucketRequest& request, std::time_t now) override
    {
        S3Address address = s3_address(config_, request.key);
        SigV4Request r;
        r.method = request.method;
        r.path = address.path;
        r.query = request.query;
        r.headers = request.headers;
        r.headers.push_back({"Host", address.host});
        if (!request.payload_hash.empty()) {
            r.payload_hash = request.payload_hash;
        }
        SigV4Options options;
        options.add_content_sha256 = true;
        SigV4Result signed_request;
        try {
            std::lock_guard lock(keys_mutex_); // the cache is not thread-safe
            signed_request =
                sigv4_sign_headers(r, keys_.key_for(now), now, options);
        } catch (const std::invalid_argument& e) {
            throw StorageError(describe() +
                               ": cannot sign a request: " + e.what());
        }
        HttpRequest http;
        http.method = request.method;
        http.url = address.origin + sigv4_canonical_path(address.path);
        if (!request.query.empty()) {
            http.url += "?" + canonical_query(request.query);
        }
        http.headers = std::move(r.headers);
        for (Header& h : signed_request.headers) {
            http.headers.push_back(std::move(h));
        }
        return http;
    }

    std::string describe() const override
    {
        return "s3 bucket " + config_.bucket + " at " +
               s3_address(config_, "").origin;
    }

    std::string identity() const override
    {
        return "access key id " + config_.credentials.access_key_id;
    }

    std::string hint(std::string_view code) const override
    {
        if (code == "SignatureDoesNotMatch") {
            return "check AWS_SECRET_ACCESS_KEY";
        }
        if (code == "InvalidAccessKeyId") {
            return "check AWS_ACCESS_KEY_ID";
        }
        if (code == "InvalidToken" || code == "ExpiredToken") {
            return "check AWS_SESSION_TOKEN";
        }
        if (code == "AccessDenied") {
            return "the key may not use this bucket";
        }
        if (code == "NoSuchBucket") {
            return "check S3_BUCKET";
        }
        if (code == "AuthorizationHeaderMalformed") {
            return "check AWS_REGION";
        }
        return {};
    }

  private:
    S3Config config_;
    std::mutex keys_mutex_;
    SigV4KeyCache keys_;
};

} // namespace

// Bucket names S3 accepts, with RGW's legacy upper case and '_'.
bool valid_s3_bucket_name(std::string_view b)
{
    return b.size() >= 3 && b.size() <= 255 &&
           b.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") ==
               b.npos;
}

bool valid_s3_region(std::string_view r)
{
    return !r.empty() && r.size() <= 64 &&
           r.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") ==
               r.npos;
}

S3Address s3_address(const S3Config& config, std::string_view key)
{
    S3Address a;
    bool path_style = config.force_path_style || !config.endpoint.empty();
    std::string scheme = "https";
    std::string host = "s3." + config.region + ".amazonaws.com";
    if (!config.endpoint.empty()) {
        std::optional<BucketEndpoint> e =
            parse_bucket_endpoint(config.endpoint);
        if (!e) {
            throw StorageError("storage: not an S3 endpoint URL: " +
                               config.endpoint);
        }
        scheme = e->scheme;
        host = e->host;
    }
    if (path_style) {
        a.path = "/" + config.bucket;
        if (!key.empty()) {
            a.path += "/" + std::string(key);
        }
    } else {
        host = config.bucket + "." + host;
        a.path = "/" + std::string(key);
    }
    a.host = host;
    a.origin = scheme + "://" + host;
    return a;
}

std::unique_ptr<Storage> open_s3_storage(const S3Config& config)
{
    if (!valid_s3_bucket_name(config.bucket)) {
        throw StorageError("storage: not an S3 bucket name: '" + config.bucket +
                           "'");
    }
    if (!valid_s3_region(config.region)) {
        throw StorageError("storage: not an S3 region: '" + config.region +
                           "'");
    }
    if (config.credentials.access_key_id.empty() ||
        config.credentials.secret_access_key.empty()) {
        throw StorageError("storage: S3 needs an access key id and a secret "
                           "access key");
    }
    if (!config.endpoint.empty() && !parse_bucket_endpoint(config.endpoint)) {
        throw StorageError("storage: not an S3 endpoint URL (http[s]://host"
                           "[:port]): " +
                           config.endpoint);
    }
    return std::make_unique<BucketStorage>(std::make_unique<S3Signer>(config),
                                           config.local_tmp, config.tuning);
}

} // namespace nixery
