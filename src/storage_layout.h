// The storage layout shared by the module (reader) and the helper (writer).
// Paths are relative to the storage root; docs/storage.md describes them.
//
//     blobs/sha256/<hh>/<hex>            layers and image configs
//     manifests/<kind>/<hh>/<hex>        manifests by digest; kind is
//                                        "docker", "oci", "docker-list" or
//                                        "oci-index" and gives the media
//                                        type, so no xattrs are needed
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
#include <utility>

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
// An image built for several platforms also has its two lists (a Docker
// manifest list and an OCI index, each naming the platforms' manifests of
// its family); its entry is version 2, with two more lines:
//
//     nixery-index-v2
//     docker sha256:<hex> <size>
//     oci sha256:<hex> <size>
//     docker-list sha256:<hex> <size>
//     oci-index sha256:<hex> <size>
//     expires <unix seconds; 0 = never>
//
// docker and oci are then the default platform's (amd64) manifests, served
// to clients that take no list. An entry without lists is always written
// as version 1, byte for byte as before lists existed.
//
// Numbers are decimal, at most 19 digits (max_index_entry_number); expires
// is not negative and, being an int64, at most 2^63 - 1.
struct IndexEntry {
    std::string docker_hex;
    std::uint64_t docker_size = 0;
    std::string oci_hex;
    std::uint64_t oci_size = 0;
    std::int64_t expires = 0;
    // Both empty, or both set (a version 2 entry).
    std::string docker_list_hex{};
    std::uint64_t docker_list_size = 0;
    std::string oci_index_hex{};
    std::uint64_t oci_index_size = 0;

    bool operator==(const IndexEntry&) const = default;

    bool has_lists() const noexcept { return !oci_index_hex.empty(); }

    const std::string& hex(ManifestKind kind) const noexcept
    {
        switch (kind) {
        case ManifestKind::docker:
            break;
        case ManifestKind::oci:
            return oci_hex;
        case ManifestKind::docker_list:
            return docker_list_hex;
        case ManifestKind::oci_index:
            return oci_index_hex;
        }
        return docker_hex;
    }
    std::uint64_t size(ManifestKind kind) const noexcept
    {
        switch (kind) {
        case ManifestKind::docker:
            break;
        case ManifestKind::oci:
            return oci_size;
        case ManifestKind::docker_list:
            return docker_list_size;
        case ManifestKind::oci_index:
            return oci_index_size;
        }
        return docker_size;
    }
    void set(ManifestKind kind, std::string hex, std::uint64_t size) noexcept
    {
        switch (kind) {
        case ManifestKind::docker:
            docker_hex = std::move(hex), docker_size = size;
            break;
        case ManifestKind::oci:
            oci_hex = std::move(hex), oci_size = size;
            break;
        case ManifestKind::docker_list:
            docker_list_hex = std::move(hex), docker_list_size = size;
            break;
        case ManifestKind::oci_index:
            oci_index_hex = std::move(hex), oci_index_size = size;
            break;
        }
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
// expiry, one list without the other), rather than write a file that
// serves as a miss for ever.
std::string format_index_entry(const IndexEntry& entry);
// nullopt when the text is not a well-formed entry.
std::optional<IndexEntry> parse_index_entry(std::string_view text);

// The largest index entry file the reader accepts. The longest version 2
// entry (19-digit numbers everywhere) is 445 bytes.
inline constexpr std::size_t max_index_entry_size = 512;

} // namespace nixery
