// The layer build cache: layers/<ll>/<layer-id> in storage, one small JSON
// file per built layer, shared by every helper using the storage:
//
//     {"version":1,"digest":"sha256:<hex>","diff_id":"sha256:<hex>",
//      "size":<gzip bytes>,"paths":<number of store paths>}
//
// A layer id (layering.h layer_id) names a set of store paths; their
// contents never change, so a recorded layer is never built again. An
// entry is trusted only while its blob exists with the recorded size.
#pragma once

#include "storage/blob.h"
#include "storage/storage.h"

#include <string_view>

#include <cstddef>
#include <optional>
#include <string>

namespace nixery {

// Throws std::invalid_argument for an entry parse_layer_cache_entry() would
// refuse: digests that are not 64 lowercase hex digits, a size of 0, a size
// or path count above 2^63 - 1.
std::string format_layer_cache_entry(const BlobInfo& blob, std::size_t paths);
std::optional<BlobInfo> parse_layer_cache_entry(std::string_view json);

// The recorded layer, when its entry parses and its blob is in storage
// with the recorded size. A cache that cannot be read is a miss (logged):
// the layer is built again.
std::optional<BlobInfo> load_cached_layer(Storage& storage,
                                          const std::string& layer_id);

void store_cached_layer(Storage& storage, const std::string& layer_id,
                        const BlobInfo& blob, std::size_t paths);

} // namespace nixery
