// The Google Cloud Storage backend, on GCS's XML API: the same object
// requests as S3 (bucket.h), each authorised by a V4 signed URL made with
// a service account's key (src/gcs_sign.h), path-style
// (<endpoint>/<bucket>/<key>). The payload is UNSIGNED-PAYLOAD, as in
// Google's own signed URLs; TLS protects the bytes in transit.
//
// What proves it: the signing vectors (src/tests/gcs_sign_test.c++) and a
// fake GCS server in the unit tests, not a real GCS bucket.
#pragma once

#include "storage/bucket.h"

#include "gcs_sign.h"

#include <memory>
#include <string>

namespace nixery {

struct GcsConfig {
    std::string bucket;
    // A service-account JSON key file (GOOGLE_APPLICATION_CREDENTIALS).
    std::string key_file;
    std::string endpoint = std::string(gcs_default_endpoint);
    // Where layers wait before put_file; empty: default_bucket_local_tmp().
    std::string local_tmp;
    BucketTuning tuning;
};

// Signed URLs are made per attempt and live this long.
inline constexpr std::int64_t gcs_request_url_lifetime = 900;

// GCS bucket names: lowercase letters, digits, '.', '-', '_'.
bool valid_gcs_bucket_name(std::string_view bucket);

// Reads the key file. Throws StorageError naming the file (never the key)
// or the bad setting. Opening makes no request.
std::unique_ptr<Storage> open_gcs_storage(const GcsConfig& config);

} // namespace nixery
