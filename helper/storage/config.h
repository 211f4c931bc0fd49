// Which storage the helper writes to, configured as Nixery users know it:
// from the environment, with the filesystem's root also from a flag.
//
//   NIXERY_STORAGE_BACKEND   filesystem (default) | s3 | gcs
//   filesystem: --storage DIR, else NIXERY_STORAGE_PATH
//   s3:  S3_BUCKET, AWS_REGION (us-east-1), AWS_ACCESS_KEY_ID,
//        AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_ENDPOINT_URL,
//        S3_FORCE_PATH_STYLE (true|false)
//   gcs: GCS_BUCKET, GOOGLE_APPLICATION_CREDENTIALS, GCS_ENDPOINT_URL
//   s3 and gcs: NIXERY_STORAGE_TMP, the local directory for files on
//        their way up (default $TMPDIR/nixery-storage)
//
// Errors name the variable that is missing or bad, and its value only when
// it is not a secret.
#pragma once

#include "storage/gcs.h"
#include "storage/s3.h"
#include "storage/storage.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace nixery {

enum class StorageBackend { filesystem, s3, gcs };

struct StorageConfig {
    StorageBackend backend = StorageBackend::filesystem;
    std::string root; // filesystem
    S3Config s3;
    GcsConfig gcs;
};

// A variable's value, nullopt when unset. An empty value counts as unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;

// The process environment (getenv).
std::optional<std::string> process_env(std::string_view name);

// The configuration from `storage_flag` (--storage DIR, nullopt when not
// given) and the environment. Throws StorageError.
StorageConfig
storage_config_from_env(const std::optional<std::string>& storage_flag,
                        const EnvLookup& env = process_env);

// Open what a configuration names. Throws StorageError.
std::unique_ptr<Storage> open_storage(const StorageConfig& config);

// Both of the above.
std::unique_ptr<Storage>
open_storage_from_env(const std::optional<std::string>& storage_flag,
                      const EnvLookup& env = process_env);

} // namespace nixery
