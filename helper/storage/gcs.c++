#include "storage/gcs.h"

#include <stdexcept>

namespace nixery {

namespace {

class GcsBucketSigner final : public BucketSigner {
  public:
    GcsBucketSigner(const GcsConfig& config, GcsSigner signer)
        : config_(config), signer_(std::move(signer))
    {
    }

    HttpRequest sign(const BucketRequest& request, std::time_t now) override
    {
        GcsUrlRequest r;
        r.method = request.method;
        r.bucket = config_.bucket;
        r.object = request.key;
        r.now = now;
        r.expires = gcs_request_url_lifetime;
        r.endpoint = config_.endpoint;
        r.style = GcsUrlStyle::path;
        r.headers = request.headers; // signed, and sent as they are
        r.query = request.query;
        HttpRequest http;
        http.method = request.method;
        try {
            http.url = gcs_signed_url(signer_, r).url;
        } catch (const std::exception& e) {
            throw StorageError(describe() +
                               ": cannot sign a request: " + e.what());
        }
        http.headers = request.headers;
        return http;
    }

    std::string describe() const override
    {
        return "gcs bucket " + config_.bucket + " at " + config_.endpoint;
    }

    std::string identity() const override
    {
        return "service account " + signer_.client_email();
    }

    std::string hint(std::string_view code) const override
    {
        if (code == "SignatureDoesNotMatch" || code == "AccessDenied") {
            return "check GOOGLE_APPLICATION_CREDENTIALS";
        }
        if (code == "NoSuchBucket") {
            return "check GCS_BUCKET";
        }
        return {};
    }

  private:
    GcsConfig config_;
    GcsSigner signer_;
};

} // namespace

bool valid_gcs_bucket_name(std::string_view b)
{
    return b.size() >= 3 && b.size() <= 222 &&
           b.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-_") ==
               b.npos;
}

std::unique_ptr<Storage> open_gcs_storage(const GcsConfig& config)
{
    if (!valid_gcs_bucket_name(config.bucket)) {
        throw StorageError("storage: not a GCS bucket name: '" + config.bucket +
                           "'");
    }
    if (!parse_bucket_endpoint(config.endpoint)) {
        throw StorageError("storage: not a GCS endpoint URL (http[s]://host"
                           "[:port]): " +
                           config.endpoint);
    }
    if (config.key_file.empty()) {
        throw StorageError("storage: GCS needs a service-account key file");
    }
    try {
        GcsSigner signer = GcsSigner::from_key_file(config.key_file);
        return std::make_unique<BucketStorage>(
            std::make_unique<GcsBucketSigner>(config, std::move(signer)),
            config.local_tmp, config.tuning);
    } catch (const GcsKeyError& e) {
        throw StorageError(std::string("storage: ") + e.what());
    }
}

} // namespace nixery
