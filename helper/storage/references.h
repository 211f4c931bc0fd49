// What stored objects name: the storage check (check.h) and the collector
// (gc.h) both walk index entries -> lists -> manifests -> blobs, and read
// the same JSON the helper writes (docs/storage.md) the same way.
#pragma once

#include "storage/storage.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

// A stored object the layout names `<prefix><hh>/<hex>`.
struct Fanned {
    std::string key;
    std::string hex;
    std::uint64_t size = 0;
};

// Every object `<prefix><hh>/<hex>` whose name is what the layout writes
// (hh = the first two digits of a 64-digit lowercase hex); anything else
// under the prefix is not the layout's. Gathered before the caller reads or
// removes any of them, so no backend is called back into mid-listing.
std::vector<Fanned> list_fanned_out(Storage& storage,
                                    const std::string& prefix);

// A descriptor's sha256 digest (hex) and size.
struct Reference {
    std::string hex;
    std::uint64_t size = 0;
};

// An image manifest's config, then its layers; nullopt when `text` is not
// an image manifest with sha256 descriptors.
std::optional<std::vector<Reference>>
manifest_references(std::string_view text);

// The manifests a Docker manifest list or an OCI index names; nullopt
// when `text` is not such a list.
std::optional<std::vector<Reference>> list_references(std::string_view text);

} // namespace nixery
