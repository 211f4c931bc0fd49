#include "storage/config.h"

#include <cstdlib>

namespace nixery {

namespace {

[[noreturn]] void bad(const std::string& why)
{
    throw StorageError("storage configuration: " + why);
}

std::string required(const EnvLookup& env, std::string_view name,
                     std::string_view backend)
{
    std::optional<std::string> v = env(name);
    if (!v) {
        bad(std::string(name) + " is not set (NIXERY_STORAGE_BACKEND=" +
            std::string(backend) + " needs it)");
    }
    return *v;
}

std::string local_tmp(const EnvLookup& env)
{
    return env("NIXERY_STORAGE_TMP").value_or(default_bucket_local_tmp());
}

bool flag_value(const EnvLookup& env, std::string_view name)
{
    std::optional<std::string> v = env(name);
    if (!v || *v == "false" || *v == "0" || *v == "no") {
        return false;
    }
    if (*v == "true" || *v == "1" || *v == "yes") {
        return true;
    }
    bad(std::string(name) + " must be true or false, not '" + *v + "'");
}

} // namespace

std::optional<std::string> process_env(std::string_view name)
{
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr || *v == '\0') {
        return std::nullopt;
    }
    return std::string(v);
}

StorageConfig
storage_config_from_env(const std::optional<std::string>& storage_flag,
                        const EnvLookup& env)
{
    StorageConfig c;
    std::string backend = env("NIXERY_STORAGE_BACKEND").value_or("filesystem");
    if (backend == "filesystem") {
        c.backend = StorageBackend::filesystem;
        if (storage_flag && !storage_flag->empty()) {
            c.root = *storage_flag;
        } else if (std::optional<std::string> p = env("NIXERY_STORAGE_PATH")) {
            c.root = *p;
        } else {
            bad("no storage directory: give --storage DIR or "
                "NIXERY_STORAGE_PATH (or NIXERY_STORAGE_BACKEND=s3|gcs)");
        }
        return c;
    }
    if (backend != "s3" && backend != "gcs") {
        bad("NIXERY_STORAGE_BACKEND must be filesystem, s3 or gcs, not '" +
            backend + "'");
    }
    if (storage_flag) {
        bad("--storage DIR is for NIXERY_STORAGE_BACKEND=filesystem, not " +
            backend);
    }
    if (backend == "s3") {
        c.backend = StorageBackend::s3;
        S3Config& s3 = c.s3;
        s3.bucket = required(env, "S3_BUCKET", backend);
        if (!valid_s3_bucket_name(s3.bucket)) {
            bad("S3_BUCKET is not a bucket name: '" + s3.bucket + "'");
        }
        s3.region = env("AWS_REGION").value_or("us-east-1");
        if (!valid_s3_region(s3.region)) {
            bad("AWS_REGION is not a region: '" + s3.region + "'");
        }
        s3.credentials.access_key_id =
            required(env, "AWS_ACCESS_KEY_ID", backend);
        s3.credentials.secret_access_key =
            required(env, "AWS_SECRET_ACCESS_KEY", backend);
        s3.credentials.session_token = env("AWS_SESSION_TOKEN").value_or("");
        s3.endpoint = env("AWS_ENDPOINT_URL").value_or("");
        if (!s3.endpoint.empty() && !parse_bucket_endpoint(s3.endpoint)) {
            bad("AWS_ENDPOINT_URL must be http[s]://host[:port], not '" +
                s3.endpoint + "'");
        }
        s3.force_path_style = flag_value(env, "S3_FORCE_PATH_STYLE");
        s3.local_tmp = local_tmp(env);
        return c;
    }
    c.backend = StorageBackend::gcs;
    GcsConfig& gcs = c.gcs;
    gcs.bucket = required(env, "GCS_BUCKET", backend);
    if (!valid_gcs_bucket_name(gcs.bucket)) {
        bad("GCS_BUCKET is not a bucket name: '" + gcs.bucket + "'");
    }
    gcs.key_file = required(env, "GOOGLE_APPLICATION_CREDENTIALS", backend);
    gcs.endpoint =
        env("GCS_ENDPOINT_URL").value_or(std::string(gcs_default_endpoint));
    if (!parse_bucket_endpoint(gcs.endpoint)) {
        bad("GCS_ENDPOINT_URL must be http[s]://host[:port], not '" +
            gcs.endpoint + "'");
    }
    gcs.local_tmp = local_tmp(env);
    return c;
}

std::unique_ptr<Storage> open_storage(const StorageConfig& config)
{
    switch (config.backend) {
    case StorageBackend::s3:
        return open_s3_storage(config.s3);
    case StorageBackend::gcs:
        return open_gcs_storage(config.gcs);
    case StorageBackend::filesystem:
        break;
    }
    return open_filesystem_storage(config.root);
}

std::unique_ptr<Storage>
open_storage_from_env(const std::optional<std::string>& storage_flag,
                      const EnvLookup& env)
{
    return open_storage(storage_config_from_env(storage_flag, env));
}

} // namespace nixery
