// The storage layout shared by the module (reader) and the helper (writer).
// Paths are relative to the storage root; docs/storage.md describes them.
//
//     blobs/sha256/<hh>/<hex>            layers and image configs
//     manifests/<kind>/<hh>/<hex>        manifests by digest; kind is
//                                        "docker" or "oci" and gives the
//                                        media type, so no xattrs are needed
//     index/<kk>/<key>                   canonical request -> manifests
//     layers/<ll>/<layer-id>             layer build cache (helper only)
//     tmp/                               temporary files, renamed into place
//
// <hh> is the first two hex digits of <hex> (likewise <kk>, <ll>), so no
// directory grows past a few thousand entries per 2^20 files.
#pragma once

#include "media_types.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nixery {

// `hex` must be validated (is_sha256_hex) by the caller.
std::string blob_path(std::string_view hex);
std::string manifest_path(ManifestKind kind, std::string_view hex);
// `key` is a canonical_key() (64 hex digits).
std::string index_path(std::string_view key);
// `layer_id` is the layer cache id (64 hex digits).
std::string layer_cache_path(std::string_view layer_id);
inline constexpr std::string_view tmp_dir = "tmp";

// An index entry: which manifests serve a canonical request, and until when.
//
// Its file format is plain text, one field per line, easy to parse and to
// read by hand:
//
//     nixery-index-v1
//     docker sha256:<hex> <size>
//     oci sha256:<hex> <size>
//     expires <unix seconds; 0 = never>
//
// Numbers are decimal, at most 19 digits (max_index_entry_number); expires
// is not negative and, being an int64, at most 2^63 - 1.
struct IndexEntry {
    std::string docker_hex;
    std::uint64_t docker_size = 0;
    std::string oci_hex;
    std::uint64_t oci_size = 0;
    std::int64_t expires = 0;

    bool operator==(const IndexEntry&) const = default;

    const std::string& hex(ManifestKind kind) const noexcept
    {
        return kind == ManifestKind::oci ? oci_hex : docker_hex;
    }
    std::uint64_t size(ManifestKind kind) const noexcept
    {
        return kind == ManifestKind::oci ? oci_size : docker_size;
    }
    bool expired(std::int64_t now) const noexcept
    {
        return expires != 0 && now >= expires;
    }
};

// The largest size or expiry an index entry holds: 19 decimal digits.
inline constexpr std::uint64_t max_index_entry_number =
    9'999'999'999'999'999'999u;

// Writer and reader agree: format_index_entry() throws std::invalid_argument
// for an entry parse_index_entry() would refuse (a digest that is not 64
// lowercase hex digits, a size above max_index_entry_number, a negative
// expiry), rather than write a file that serves as a miss for ever.
std::string format_index_entry(const IndexEntry& entry);
// nullopt when the text is not a well-formed entry.
std::optional<IndexEntry> parse_index_entry(std::string_view text);

// The largest index entry file the reader accepts.
inline constexpr std::size_t max_index_entry_size = 512;

} // namespace nixery
