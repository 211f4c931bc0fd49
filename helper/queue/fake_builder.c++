#include "queue/builder.h"

#include "digest.h"
#include "storage_layout.h"

#include <fcntl.h>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace nixery::queue {

namespace {

void append_line(const std::string& path, const std::string& line)
{
    int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw std::system_error(errno, std::generic_category(), path);
    }
    // One write(2) with O_APPEND: concurrent helpers never interleave.
    ssize_t n = ::write(fd, line.data(), line.size());
    int err = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(line.size())) {
        throw std::system_error(err, std::generic_category(), path);
    }
}

std::string descriptor(std::string_view media_type, const std::string& hex,
                       std::size_t size)
{
    return "{\"mediaType\":\"" + std::string(media_type) +
           "\",\"size\":" + std::to_string(size) +
           ",\"digest\":\"sha256:" + hex + "\"}";
}

IndexEntry publish(Storage& storage, const ImageRequest& request,
                   std::int64_t expires)
{
    std::string layer = "fake layer:";
    for (const std::string& p : request.packages) {
        layer += " " + p;
    }
    layer += "\n";
    std::string layer_hex = sha256_hex(layer);
    storage.put(blob_path(layer_hex), layer);

    std::string config = "{\"architecture\":\"" +
                         std::string(arch_name(request.arch)) +
                         "\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
                         "\"diff_ids\":[\"sha256:" +
                         layer_hex + "\"]}}";
    std::string config_hex = sha256_hex(config);
    storage.put(blob_path(config_hex), config);

    IndexEntry entry;
    entry.expires = expires;
    struct Kind {
        ManifestKind kind;
        std::string_view manifest, config, layer;
    };
    for (const Kind& k :
         {Kind{ManifestKind::docker,
               "application/vnd.docker.distribution.manifest.v2+json",
               "application/vnd.docker.container.image.v1+json",
               "application/vnd.docker.image.rootfs.diff.tar.gzip"},
          Kind{ManifestKind::oci, "application/vnd.oci.image.manifest.v1+json",
               "application/vnd.oci.image.config.v1+json",
               "application/vnd.oci.image.layer.v1.tar+gzip"}}) {
        std::string manifest =
            "{\"schemaVersion\":2,\"mediaType\":\"" + std::string(k.manifest) +
            "\",\"config\":" + descriptor(k.config, config_hex, config.size()) +
            ",\"layers\":[" + descriptor(k.layer, layer_hex, layer.size()) +
            "]}";
        std::string hex = sha256_hex(manifest);
        storage.put(manifest_path(k.kind, hex), manifest);
        if (k.kind == ManifestKind::oci) {
            entry.oci_hex = hex;
            entry.oci_size = manifest.size();
        } else {
            entry.docker_hex = hex;
            entry.docker_size = manifest.size();
        }
    }
    // The index entry last: readers never find an entry whose manifests are
    // not yet stored.
    storage.put(index_path(canonical_key(request)), format_index_entry(entry));
    return entry;
}

} // namespace

Builder make_fake_builder(FakeBuilderOptions options, Storage& storage)
{
    return [options = std::move(options),
            &storage](const ImageRequest& request,
                      const BuildContext& context) -> BuildOutcome {
        append_line(options.dir + "/builds", canonical_key(request) + " " +
                                                 request.name + ":" +
                                                 request.tag + "\n");
        if (options.delay.count() > 0) {
            std::this_thread::sleep_for(options.delay);
        }
        BuildOutcome out;
        for (const std::string& p : request.packages) {
            if (p.rfind("missing", 0) == 0) {
                out.unknown.push_back(p);
            }
        }
        if (!out.unknown.empty()) {
            out.status = BuildOutcome::Status::not_found;
            return out;
        }
        for (const std::string& p : request.packages) {
            if (p.rfind("broken", 0) == 0) {
                out.status = BuildOutcome::Status::failed;
                out.message = "building " + p + " failed";
                out.detail = "error: builder for '/nix/store/"
                             "00000000000000000000000000000000-" +
                             p + ".drv' failed with exit code 1";
                return out;
            }
        }
        publish(storage, request, context.expires);
        return out;
    };
}

} // namespace nixery::queue
