// Image requests: what an image name and tag ask for.
//
// A registry path such as `/v2/shell/arm64/git/manifests/latest` names an
// image by listing Nix packages. This component validates the name and tag
// against the distribution spec's grammar, expands Nixery's meta-packages,
// and produces the canonical request: the sorted, de-duplicated package list,
// the architecture and the tag. The canonical encoding and its key are shared
// by the nginx module (to find a cached manifest) and the build helper (to
// publish one), so both must compute them byte for byte alike: that is why it
// lives here, in the core, and nowhere else.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

enum class Arch { amd64, arm64 };

// "amd64"/"arm64": the image config's architecture.
std::string_view arch_name(Arch arch) noexcept;
// "x86_64-linux"/"aarch64-linux": the Nix system to build for.
std::string_view nix_system(Arch arch) noexcept;

// Limits on what the registry accepts. Clients refuse longer names anyway;
// the limits keep hostile input bounded.
inline constexpr std::size_t max_name_length = 1024;
inline constexpr std::size_t max_tag_length = 128;
inline constexpr std::size_t max_packages = 256;

struct ImageRequest {
    // The name as requested (validated), e.g. "shell/git".
    std::string name;
    std::string tag;
    Arch arch = Arch::amd64;
    // Expanded, normalised (digit-leading components get a leading '_'),
    // de-duplicated and sorted byte-wise; always has cacert and iana-etc.
    std::vector<std::string> packages;
    // The `shell` meta-package was requested.
    bool shell = false;

    bool operator==(const ImageRequest&) const = default;
};

enum class NameError { none, name_invalid, tag_invalid };

// True when `name` follows the distribution spec's repository name grammar:
// components of [a-z0-9]+ joined by '.', '_', '__' or runs of '-',
// separated by '/', at most max_name_length bytes.
bool valid_name(std::string_view name) noexcept;

// True when `tag` matches [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
bool valid_tag(std::string_view tag) noexcept;

struct ParseResult {
    NameError error = NameError::none;
    std::string message; // why, for the error's "detail"
    ImageRequest request;
};

// Parse an image name and tag as Nixery does:
// leading `shell`/`arm64` meta-packages in any order, `.` for nested
// attributes, `cacert` and `iana-etc` always added.
ParseResult parse_image_request(std::string_view name, std::string_view tag);

// The canonical encoding of a request: a versioned, NUL-separated record of
// the architecture, the tag and every package. Names and tags cannot contain
// NUL, so no two requests share an encoding.
std::string canonical_encoding(const ImageRequest& request);

// Lowercase hex SHA-256 of canonical_encoding(): the request's cache key.
std::string canonical_key(const ImageRequest& request);

// The Nix package names, as a JSON array of strings (for the build job).
std::string packages_json(const ImageRequest& request);

} // namespace nixery
