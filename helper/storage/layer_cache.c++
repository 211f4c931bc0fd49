#include "storage/layer_cache.h"
#include "json.h"

#include "base/log.h"
#include "digest.h"
#include "storage_layout.h"

#include <jansson.h>

#include <limits>
#include <memory>
#include <stdexcept>

namespace nixery {

namespace {

constexpr std::size_t max_entry_size = 4096;

std::optional<std::string> digest_hex(json_t* obj, const char* key)
{
    const char* s = json_string_value(json_object_get(obj, key));
    if (s == nullptr) {
        return std::nullopt;
    }
    ParsedDigest d = parse_digest(s);
    if (d.error != DigestError::none) {
        return std::nullopt;
    }
    return std::string(d.hex);
}

} // namespace

std::string format_layer_cache_entry(const BlobInfo& blob, std::size_t paths)
{
    // Refuse what parse_layer_cache_entry() would: jansson reads integers
    // up to 2^63 - 1 only, and a layer is never 0 bytes of gzip.
    constexpr std::uint64_t max_int = std::numeric_limits<json_int_t>::max();
    if (!is_sha256_hex(blob.digest_hex) || !is_sha256_hex(blob.diff_id_hex) ||
        blob.size == 0 || blob.size > max_int || paths > max_int) {
        throw std::invalid_argument("layer cache: entry out of range");
    }
    return "{\"version\":1,\"digest\":\"sha256:" + blob.digest_hex +
           "\",\"diff_id\":\"sha256:" + blob.diff_id_hex +
           "\",\"size\":" + std::to_string(blob.size) +
           ",\"paths\":" + std::to_string(paths) + "}\n";
}

std::optional<BlobInfo> parse_layer_cache_entry(std::string_view text)
{
    if (text.size() > max_entry_size) {
        return std::nullopt;
    }
    JsonPtr root(json_loadb(text.data(), text.size(), 0, nullptr));
    if (!root || !json_is_object(root.get()) ||
        json_integer_value(json_object_get(root.get(), "version")) != 1) {
        return std::nullopt;
    }
    auto digest = digest_hex(root.get(), "digest");
    auto diff_id = digest_hex(root.get(), "diff_id");
    json_t* size = json_object_get(root.get(), "size");
    if (!digest || !diff_id || !json_is_integer(size) ||
        json_integer_value(size) <= 0) {
        return std::nullopt;
    }
    return BlobInfo{*digest, *diff_id,
                    static_cast<std::uint64_t>(json_integer_value(size))};
}

std::optional<BlobInfo> load_cached_layer(Storage& storage,
                                          const std::string& layer_id)
{
    try {
        std::optional<std::string> text =
            storage.get(layer_cache_path(layer_id), max_entry_size);
        auto blob = text ? parse_layer_cache_entry(*text) : std::nullopt;
        if (!blob || storage.size(blob_path(blob->digest_hex)) != blob->size) {
            return std::nullopt;
        }
        return blob;
    } catch (const StorageError& e) {
        log::warn("layer cache unreadable: building the layer",
                  {{"layer", layer_id}, {"error", e.what()}});
        return std::nullopt;
    }
}

void store_cached_layer(Storage& storage, const std::string& layer_id,
                        const BlobInfo& blob, std::size_t paths)
{
    storage.put(layer_cache_path(layer_id),
                format_layer_cache_entry(blob, paths));
}

} // namespace nixery
