// The image config and the two manifests of an image, as JSON bytes.
//
// The config blob is shared by both manifests (its bytes do not name a
// media type); each manifest references it and the layers with its own
// media types: Docker schema 2 (config application/vnd.docker.container.
// image.v1+json, layers ...rootfs.diff.tar.gzip) or OCI (config
// application/vnd.oci.image.config.v1+json, layers ...layer.v1.tar+gzip).
// Output is compact JSON with a fixed key order, so the same inputs give
// the same bytes and digests. See docs/images.md.
#pragma once

#include "image/tarball.h"
#include "image_request.h"
#include "media_types.h"

#include <string>
#include <vector>

namespace nixery {

// The fixed `created` time of every image and history entry.
inline constexpr std::string_view image_created = "1970-01-01T00:00:01Z";

// The config's Env.
inline constexpr std::string_view image_path_env =
    "PATH=/bin:/usr/bin:/sbin:/usr/sbin";
inline constexpr std::string_view image_ssl_env =
    "SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt";

struct ConfigLayer {
    std::string diff_id_hex;
    std::string description; // the history entry's created_by
};

// `bash`: add Cmd ["bash"] (bashInteractive is in the image).
std::string image_config_json(Arch arch, const std::vector<ConfigLayer>& layers,
                              bool bash);

struct Descriptor {
    std::string digest_hex;
    std::uint64_t size = 0;
};

std::string manifest_json(ManifestKind kind, const Descriptor& config,
                          const std::vector<Descriptor>& layers);

// A history description for a store-path layer: its package names
// (store path names without hashes), the first few and a count.
std::string describe_store_layer(const std::vector<std::string>& paths);

} // namespace nixery
