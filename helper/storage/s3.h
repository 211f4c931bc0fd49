// The S3 backend: storage in an Amazon S3 bucket or any server that speaks
// S3 (Ceph's RADOS Gateway, MinIO...). Requests carry a SigV4
// Authorization header (src/sigv4.h) with x-amz-content-sha256 the SHA-256
// of the body (of each part, for multipart uploads). Addressing is
// virtual-hosted (https://<bucket>.s3.<region>.amazonaws.com/<key>) on AWS,
// and path-style (<endpoint>/<bucket>/<key>) when an endpoint is given or
// path style is forced (bucket names with dots under TLS, some gateways).
// The rest (retries, multipart, XML, errors) is bucket.h's.
#pragma once

#include "storage/bucket.h"

#include "sigv4.h"

#include <memory>
#include <string>

namespace nixery {

struct S3Config {
    std::string bucket;
    std::string region = "us-east-1";
    // "http[s]://host[:port]" of an S3-compatible server; empty: AWS.
    std::string endpoint;
    bool force_path_style = false;
    AwsCredentials credentials;
    // Where layers wait before put_file; empty: default_bucket_local_tmp().
    std::string local_tmp;
    BucketTuning tuning;
};

// How a request for `key` (empty: the bucket) is addressed.
struct S3Address {
    std::string origin; // "https://images.s3.eu-west-1.amazonaws.com"
    std::string host;   // the Host header: "images.s3.eu-west-1..." [:port]
    std::string path;   // raw path: "/<key>" or "/<bucket>/<key>"
};
S3Address s3_address(const S3Config& config, std::string_view key);

// What open_s3_storage() accepts as a bucket name and a region: nothing
// that could change the meaning of a URL.
bool valid_s3_bucket_name(std::string_view bucket);
bool valid_s3_region(std::string_view region);

// Throws StorageError on a bad configuration (no bucket, no credentials, a
// bad endpoint); the message never carries the secret. Opening makes no
// request.
std::unique_ptr<Storage> open_s3_storage(const S3Config& config);

} // namespace nixery
