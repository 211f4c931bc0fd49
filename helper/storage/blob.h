// A blob in storage as the helper records it: the digest it is stored
// under, the digest of its uncompressed contents (a layer's diff_id) and
// its size. Layer tarballs (image/tarball.h) produce it; the layer cache
// (storage/layer_cache.h) and the collector keep and check it.
#pragma once

#include <cstdint>
#include <string>

namespace nixery {

struct BlobInfo {
    std::string digest_hex;  // SHA-256 of the gzip bytes (the blob digest)
    std::string diff_id_hex; // SHA-256 of the uncompressed tar
    std::uint64_t size = 0;  // gzip bytes

    bool operator==(const BlobInfo&) const = default;
};

} // namespace nixery
