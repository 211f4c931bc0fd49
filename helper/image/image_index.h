// The lists of an image built for several platforms: a Docker manifest
// list and an OCI image index, each naming one manifest of its family per
// platform with the platform's os, architecture (and variant), size and
// digest; and the platforms themselves, as the helper's --platforms and
// NIXERY_PLATFORMS name them ("linux/amd64,linux/arm64").
//
// Output is compact JSON with a fixed key order and the platforms in the
// configured order, so the same manifests give the same list bytes and
// digests on any host. See docs/images.md.
#pragma once

#include "image_request.h"
#include "media_types.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

// "linux/amd64", "linux/arm64/v8": a platform as clients name it.
std::string_view platform_name(Arch arch) noexcept;
// The variant the lists give a platform: "v8" for arm64, none for amd64.
std::string_view platform_variant(Arch arch) noexcept;

// Parse a comma-separated platform list: linux/amd64 (or amd64),
// linux/arm64 (or linux/arm64/v8, arm64, linux/aarch64). The default
// platform, the one clients without lists get, is linux/amd64: it must be
// in the list, and comes first whatever the order given; each platform at
// most once. Throws std::invalid_argument naming what is wrong.
std::vector<Arch> parse_platforms(std::string_view text);

// "linux/amd64,linux/arm64/v8".
std::string format_platforms(const std::vector<Arch>& platforms);

// One platform's manifest, as a list names it.
struct PlatformManifest {
    Arch arch = Arch::amd64;
    std::string hex;
    std::uint64_t size = 0;
};

// The list of `kind` (docker_list or oci_index) naming `manifests` (of its
// member kind, list_member_kind()), in that order.
std::string image_list_json(ManifestKind kind,
                            const std::vector<PlatformManifest>& manifests);

} // namespace nixery
