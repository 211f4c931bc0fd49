// Media types of everything the registry serves, and the choice between the
// manifest flavours it stores for every image: Docker schema 2 and OCI
// manifests and, for an image built for several platforms, a Docker
// manifest list and an OCI image index naming one manifest per platform.
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

inline constexpr std::string_view docker_manifest_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view oci_index =
    "application/vnd.oci.image.index.v1+json";

// Blobs are served as opaque bytes, as the distribution registry does.
inline constexpr std::string_view blob = "application/octet-stream";

} // namespace nixery::media

namespace nixery {

// What a stored manifest is. The two lists (docker_list, oci_index) name
// the per-platform manifests of their own family (docker, oci).
enum class ManifestKind { docker, oci, docker_list, oci_index };

// Every kind, in the order a manifest by digest is looked for: the single
// manifests, which clients fetch by digest most, first.
inline constexpr ManifestKind all_manifest_kinds[] = {
    ManifestKind::docker, ManifestKind::oci, ManifestKind::docker_list,
    ManifestKind::oci_index};

std::string_view manifest_media_type(ManifestKind kind) noexcept;

// The storage directory name of a kind: "docker", "oci", "docker-list" or
// "oci-index".
std::string_view manifest_kind_name(ManifestKind kind) noexcept;

// True for docker_list and oci_index.
bool is_list_kind(ManifestKind kind) noexcept;

// The single-manifest kind a list's entries have (docker for docker_list,
// oci for oci_index); `kind` itself for a single manifest.
ManifestKind list_member_kind(ManifestKind kind) noexcept;

// What a request's Accept header lines take: the single manifest flavour
// (as choose_manifest_kind()) and, when the client accepts one, the list
// flavour to answer with when the image has lists.
struct ManifestChoice {
    ManifestKind single = ManifestKind::docker;
    bool list_accepted = false;
    ManifestKind list = ManifestKind::docker_list; // when list_accepted

    // The kind to serve for an image that has lists (`has_lists`) or not.
    ManifestKind kind(bool has_lists) const noexcept
    {
        return has_lists && list_accepted ? list : single;
    }
};

// Parse the Accept header lines once for both choices. A list is chosen
// only when named explicitly (a wildcard or no Accept keeps the single
// manifest every client understands): the Docker manifest list when
// accepted, else the OCI index when accepted.
ManifestChoice
choose_manifests(const std::vector<std::string_view>& accept_lines) noexcept;

// Pick the manifest flavour for a request's Accept header lines (each may be
// a comma-separated list with parameters). Docker schema 2 when the client
// accepts it, names nothing, or accepts anything ("*/*"); otherwise OCI when
// accepted; otherwise Docker schema 2, the most widely understood. A media
// range with q=0 counts as refused.
ManifestKind choose_manifest_kind(
    const std::vector<std::string_view>& accept_lines) noexcept;

} // namespace nixery
