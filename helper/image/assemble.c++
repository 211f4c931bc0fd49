#include "image/assemble.h"

#include "base/log.h"
#include "digest.h"
#include "image/image_config.h"
#include "image/image_index.h"
#include "image/layering.h"
#include "image/symlink_layer.h"
#include "image/tarball.h"
#include "storage/layer_cache.h"
#include "storage/lock.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace nixery {

namespace {

constexpr std::string_view store_dir = "/nix/store/";

// Store paths name files to read on this host: only /nix/store/<name>.
void check_store_path(const std::string& path)
{
    std::string_view base =
        std::string_view(path).substr(std::min(path.size(), store_dir.size()));
    if (!path.starts_with(store_dir) || base.empty() || base == "." ||
        base == ".." || base.find('/') != base.npos ||
        base.find('\0') != base.npos) {
        throw std::runtime_error("assemble: not a store path: " + path);
    }
}

bool wants_bash(const ImageRequest& request, const Closure& closure)
{
    auto is_bash = [](std::string_view a) {
        std::string lower;
        for (char c : a) {
            lower.push_back(
                static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
        }
        return lower == "bashinteractive";
    };
    return request.shell ||
           std::any_of(request.packages.begin(), request.packages.end(),
                       is_bash) ||
           std::any_of(closure.attributes.begin(), closure.attributes.end(),
                       is_bash);
}

BlobInfo build_store_layer(Storage& storage, const Layer& layer,
                           const AssembleOptions& o, CompressionPool& pool)
{
    LayerWriter w(storage, &pool);
    w.add_directory("nix", 0755);
    w.add_directory("nix/store", 0755);
    for (const std::string& p : layer.paths) {
        w.add_tree(p.substr(1), o.store_prefix + p);
    }
    return w.finish();
}

BlobInfo build_symlink_layer(Storage& storage, const Closure& closure,
                             const AssembleOptions& o, CompressionPool& pool)
{
    LayerWriter w(storage, &pool);
    for (const TreeEntry& e : symlink_layer_entries(closure, o.store_prefix)) {
        switch (e.kind) {
        case TreeEntry::Kind::directory:
            w.add_directory(e.name, e.mode);
            break;
        case TreeEntry::Kind::file:
            w.add_contents(e.name, e.mode, e.target);
            break;
        case TreeEntry::Kind::symlink:
            w.add_symlink(e.name, e.target);
            break;
        }
    }
    return w.finish();
}

Descriptor publish_blob(Storage& storage, std::string_view bytes)
{
    Descriptor d{sha256_hex(bytes), bytes.size()};
    storage.put(blob_path(d.digest_hex), bytes);
    return d;
}

// The first exception thrown by any of the threads building layers.
class FirstError {
  public:
    void record(std::exception_ptr e)
    {
        std::lock_guard lock(mutex_);
        if (!error_) {
            error_ = std::move(e);
        }
    }
    bool any()
    {
        std::lock_guard lock(mutex_);
        return error_ != nullptr;
    }
    void rethrow()
    {
        if (error_) {
            std::rethrow_exception(error_);
        }
    }

  private:
    std::mutex mutex_;
    std::exception_ptr error_;
};

// Each layer's id and, for those in the layer cache, its blob; the others
// to build, biggest first so that no core idles on a long tail.
struct LayerPlan {
    std::vector<std::string> ids;
    std::vector<std::optional<BlobInfo>> blobs;
    std::vector<std::size_t> to_build;
};

LayerPlan plan_layers(Storage& storage, const std::vector<Layer>& layers)
{
    LayerPlan plan;
    plan.blobs.resize(layers.size());
    for (std::size_t i = 0; i < layers.size(); ++i) {
        plan.ids.push_back(layer_id(layers[i].paths));
        plan.blobs[i] = load_cached_layer(storage, plan.ids[i]);
        if (!plan.blobs[i]) {
            plan.to_build.push_back(i);
        }
    }
    std::stable_sort(plan.to_build.begin(), plan.to_build.end(),
                     [&](std::size_t a, std::size_t b) {
                         return layers[a].nar_size > layers[b].nar_size;
                     });
    return plan;
}

// Builds the layers the plan lacks (storing each in the layer cache) on
// worker threads and the symlink layer on this one; returns the symlink
// layer. The first error is rethrown once every thread has stopped.
BlobInfo build_layers(Storage& storage, const std::vector<Layer>& layers,
                      LayerPlan& plan, const Closure& closure,
                      const AssembleOptions& options)
{
    unsigned threads = options.threads != 0
                           ? options.threads
                           : std::max(1u, std::thread::hardware_concurrency());
    // Blocks of every layer compress on one pool of `threads`; as many
    // layers are built at once (their tar reading and hashing overlaps the
    // compression of others).
    CompressionPool compression(threads);
    threads = static_cast<unsigned>(
        std::min<std::size_t>(threads, plan.to_build.size()));
    std::atomic<std::size_t> next{0};
    FirstError error;
    // The symlink layer is one of the layers built.
    const std::size_t total = plan.to_build.size() + 1;
    std::atomic<std::size_t> done{0};
    auto report = [&] {
        if (options.progress) {
            options.progress("building", std::min(done.load() + 1, total),
                             total);
        }
    };
    report();
    auto worker = [&] {
        for (;;) {
            std::size_t k = next.fetch_add(1);
            if (k >= plan.to_build.size() || error.any()) {
                return;
            }
            std::size_t i = plan.to_build[k];
            try {
                BlobInfo b =
                    build_store_layer(storage, layers[i], options, compression);
                store_cached_layer(storage, plan.ids[i], b,
                                   layers[i].paths.size());
                log::debug("layer built", {{"layer", plan.ids[i]},
                                           {"digest", b.digest_hex},
                                           {"paths", layers[i].paths.size()},
                                           {"size", b.size}});
                plan.blobs[i] = std::move(b);
                ++done;
                report();
            } catch (...) {
                error.record(std::current_exception());
            }
        }
    };
    std::vector<std::jthread> workers;
    for (unsigned t = 0; t < threads; ++t) {
        workers.emplace_back(worker);
    }
    BlobInfo symlinks;
    try {
        symlinks = build_symlink_layer(storage, closure, options, compression);
    } catch (...) {
        error.record(std::current_exception());
    }
    workers.clear(); // joins
    error.rethrow();
    return symlinks;
}

// The image config and both manifests, then (last: only now is the image
// visible to the module) the index entry when `write_index`, once `held`
// says that the collector cannot have run meanwhile.
IndexEntry publish_image(Storage& storage, const LockHold& held,
                         const ImageRequest& request, const Closure& closure,
                         const std::vector<Layer>& layers,
                         const LayerPlan& plan, const BlobInfo& symlinks,
                         const AssembleOptions& options, bool write_index)
{
    std::vector<ConfigLayer> config_layers;
    std::vector<Descriptor> descriptors;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const BlobInfo& blob = *plan.blobs[i];
        config_layers.push_back(
            {blob.diff_id_hex, describe_store_layer(layers[i].paths)});
        descriptors.push_back({blob.digest_hex, blob.size});
    }
    config_layers.push_back(
        {symlinks.diff_id_hex,
         "nixery: symlinks to the requested packages; /tmp, /root, /bin/sh, "
         "/usr/bin/env, /etc/passwd, /etc/group, /etc/nsswitch.conf, "
         "/etc/ssl/certs"});
    descriptors.push_back({symlinks.digest_hex, symlinks.size});

    Descriptor config =
        publish_blob(storage, image_config_json(request.arch, config_layers,
                                                wants_bash(request, closure)));
    IndexEntry entry;
    entry.expires = options.expires;
    for (ManifestKind kind : {ManifestKind::docker, ManifestKind::oci}) {
        std::string m = manifest_json(kind, config, descriptors);
        std::string hex = sha256_hex(m);
        storage.put(manifest_path(kind, hex), m);
        entry.set(kind, hex, m.size());
    }
    if (write_index) {
        held.check();
        storage.put(index_path(canonical_key(request)),
                    format_index_entry(entry));
    }
    return entry;
}

// assemble_image() with the lock already held.
IndexEntry assemble_held(Storage& storage, const LockHold& held,
                         const ImageRequest& request, const Closure& closure,
                         const AssembleOptions& options, bool write_index)
{
    auto started = std::chrono::steady_clock::now();
    for (const StorePath& p : closure.paths) {
        check_store_path(p.path);
    }
    for (const std::string& r : closure.roots) {
        check_store_path(r);
    }
    std::vector<Layer> layers = layer_closure(
        closure, options.popularity, options.layer_budget, options.layering);
    LayerPlan plan = plan_layers(storage, layers);
    BlobInfo symlinks = build_layers(storage, layers, plan, closure, options);
    if (options.progress) {
        options.progress("publishing", 0, 0);
    }
    IndexEntry entry = publish_image(storage, held, request, closure, layers,
                                     plan, symlinks, options, write_index);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started)
                  .count();
    if (options.counts != nullptr) {
        // Summed over the platforms of assemble_platforms().
        options.counts->layers_built += plan.to_build.size();
        options.counts->layers_cached += layers.size() - plan.to_build.size();
    }
    log::info("image assembled", {{"image", request.name + ":" + request.tag},
                                  {"arch", arch_name(request.arch)},
                                  {"layers", layers.size() + 1},
                                  {"layering", layering_name(options.layering)},
                                  {"built", plan.to_build.size()},
                                  {"manifest", "sha256:" + entry.docker_hex},
                                  {"duration_ms", ms}});
    return entry;
}

} // namespace

IndexEntry assemble_image(Storage& storage, CollectionLock& lock,
                          const ImageRequest& request, const Closure& closure,
                          const AssembleOptions& options)
{
    // From the layer cache lookups to the index entry: nixery-gc waits.
    std::unique_ptr<LockHold> held = lock.shared();
    return assemble_held(storage, *held, request, closure, options, true);
}

IndexEntry assemble_platforms(Storage& storage, CollectionLock& lock,
                              const ImageRequest& request,
                              const std::vector<PlatformBuild>& platforms,
                              const AssembleOptions& options)
{
    if (platforms.empty() || platforms.front().arch != request.arch) {
        throw std::invalid_argument(
            "assemble: the first platform is the request's");
    }
    for (const PlatformBuild& p : platforms) {
        if (p.closure == nullptr && !p.stored) {
            throw std::invalid_argument("assemble: a platform without image");
        }
    }
    // One hold for every platform: a second shared() while holding would
    // wait for a collector that waits for us (the Redis lock).
    std::unique_ptr<LockHold> held = lock.shared();
    IndexEntry entry;
    std::vector<PlatformManifest> docker, oci;
    for (const PlatformBuild& p : platforms) {
        ImageRequest platform_request = request;
        platform_request.arch = p.arch;
        bool is_default = p.arch == request.arch;
        IndexEntry built =
            p.stored ? *p.stored
                     : assemble_held(storage, *held, platform_request,
                                     *p.closure, options, !is_default);
        if (is_default) {
            entry.set(ManifestKind::docker, built.docker_hex,
                      built.docker_size);
            entry.set(ManifestKind::oci, built.oci_hex, built.oci_size);
        }
        docker.push_back({p.arch, built.docker_hex, built.docker_size});
        oci.push_back({p.arch, built.oci_hex, built.oci_size});
    }
    for (ManifestKind kind :
         {ManifestKind::docker_list, ManifestKind::oci_index}) {
        std::string list = image_list_json(
            kind, kind == ManifestKind::docker_list ? docker : oci);
        std::string hex = sha256_hex(list);
        storage.put(manifest_path(kind, hex), list);
        entry.set(kind, hex, list.size());
    }
    entry.expires = options.expires;
    held->check();
    storage.put(index_path(canonical_key(request)), format_index_entry(entry));
    log::info("image index assembled",
              {{"image", request.name + ":" + request.tag},
               {"platforms", platforms.size()},
               {"index", "sha256:" + entry.oci_index_hex},
               {"list", "sha256:" + entry.docker_list_hex}});
    return entry;
}

} // namespace nixery
