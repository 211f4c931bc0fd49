// Media types of everything the registry serves, and the choice between the
// two manifest flavours it stores for every image (Docker schema 2 and OCI).
#pragma once

#include <string_view>
#include <vector>

namespace nixery::media {

inline constexpr std::string_view docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view docker_config =
    "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view docker_layer =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";

inline constexpr std::string_view oci_manifest =
    "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view oci_config =
    "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view oci_layer =
    "application/vnd.oci.image.layer.v1.tar+gzip";

// Blobs are served as opaque bytes, as the distribution registry does.
inline constexpr std::string_view blob = "application/octet-stream";

} // namespace nixery::media

namespace nixery {

enum class ManifestKind { docker, oci };

inline constexpr ManifestKind all_manifest_kinds[] = {ManifestKind::docker,
                                                      ManifestKind::oci};

std::string_view manifest_media_type(ManifestKind kind) noexcept;

// The storage directory name of a kind: "docker" or "oci".
std::string_view manifest_kind_name(ManifestKind kind) noexcept;

// Pick the manifest flavour for a request's Accept header lines (each may be
// a comma-separated list with parameters). Docker schema 2 when the client
// accepts it, names nothing, or accepts anything ("*/*"); otherwise OCI when
// accepted; otherwise Docker schema 2, the most widely understood. A media
// range with q=0 counts as refused.
ManifestKind choose_manifest_kind(
    const std::vector<std::string_view>& accept_lines) noexcept;

} // namespace nixery
