#include "storage/gc.h"
#include "json.h"

#include "atomic_file.h"
#include "base/log.h"
#include "digest.h"
#include "storage/layer_cache.h"
#include "storage/lock.h"
#include "storage_layout.h"

#include <jansson.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <sys/stat.h>
#include <unordered_set>

namespace nixery {

namespace {

namespace fs = std::filesystem;

using HexSet = std::unordered_set<std::string>;

constexpr std::size_t max_manifest_size = 4 << 20;

// Calls `f(hex, path)` for every file `<dir>/<hh>/<hex>` whose names are
// what the layout writes (hh = the first two digits of a 64-digit hex).
void for_each_fanned_out(
    const fs::path& dir,
    const std::function<void(const std::string&, const fs::path&)>& f)
{
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        return;
    }
    for (const fs::directory_entry& sub : fs::directory_iterator(dir)) {
        std::string hh = sub.path().filename().string();
        if (hh.size() != 2 || !sub.is_directory(ec)) {
            continue;
        }
        for (const fs::directory_entry& e : fs::directory_iterator(sub)) {
            std::string hex = e.path().filename().string();
            if (is_sha256_hex(hex) && hex.compare(0, 2, hh) == 0 &&
                e.is_regular_file(ec)) {
                f(hex, e.path());
            }
        }
    }
}

// The config and layer digests a manifest names; nullopt when unreadable.
std::optional<std::vector<std::string>> manifest_blobs(const fs::path& path)
{
    std::optional<std::string> text =
        read_small_file(path.string(), max_manifest_size);
    if (!text) {
        return std::nullopt;
    }
    JsonPtr root(json_loadb(text->data(), text->size(), 0, nullptr));
    if (!root || !json_is_object(root.get())) {
        return std::nullopt;
    }
    std::vector<std::string> out;
    auto add = [&](json_t* descriptor) {
        const char* d =
            json_string_value(json_object_get(descriptor, "digest"));
        ParsedDigest digest = parse_digest(d ? d : "");
        if (digest.error != DigestError::none) {
            return false;
        }
        out.emplace_back(digest.hex);
        return true;
    };
    if (!add(json_object_get(root.get(), "config"))) {
        return std::nullopt;
    }
    json_t* layers = json_object_get(root.get(), "layers");
    if (!json_is_array(layers)) {
        return std::nullopt;
    }
    std::size_t i;
    json_t* layer;
    json_array_foreach(layers, i, layer)
    {
        if (!add(layer)) {
            return std::nullopt;
        }
    }
    return out;
}

class Sweeper {
  public:
    Sweeper(const GcOptions& o, GcStats& s) : o_(o), s_(s) {}

    void remove(const fs::path& path)
    {
        struct stat st;
        if (::lstat(path.c_str(), &st) == 0) {
            s_.bytes_removed += static_cast<std::uint64_t>(st.st_size);
        }
        if (o_.dry_run) {
            return;
        }
        std::error_code ec;
        fs::remove(path, ec);
        if (ec) {
            log::warn("gc: cannot remove",
                      {{"path", path.string()}, {"error", ec.message()}});
        }
    }

  private:
    const GcOptions& o_;
    GcStats& s_;
};

} // namespace

std::string GcStats::json() const
{
    JsonPtr o(json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "index_kept",
        static_cast<json_int_t>(index_kept), "index_removed",
        static_cast<json_int_t>(index_removed), "manifests_kept",
        static_cast<json_int_t>(manifests_kept), "manifests_removed",
        static_cast<json_int_t>(manifests_removed), "layer_entries_kept",
        static_cast<json_int_t>(layer_entries_kept), "layer_entries_removed",
        static_cast<json_int_t>(layer_entries_removed), "blobs_kept",
        static_cast<json_int_t>(blobs_kept), "blobs_removed",
        static_cast<json_int_t>(blobs_removed), "tmp_removed",
        static_cast<json_int_t>(tmp_removed), "bytes_removed",
        static_cast<json_int_t>(bytes_removed), "unreadable",
        static_cast<json_int_t>(unreadable)));
    return json_dump(o.get(), JSON_COMPACT | JSON_PRESERVE_ORDER);
}

GcStats collect_garbage(const GcOptions& o)
{
    const fs::path root = o.storage_root;
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
        throw std::runtime_error("gc: not a directory: " + o.storage_root);
    }
    StorageLock lock = StorageLock::exclusive(o.storage_root, o.lock_timeout);
    GcStats s;
    Sweeper sweep(o, s);

    // 1. The index: drop long-expired entries, mark the others' manifests.
    HexSet live_manifests[2]; // by ManifestKind: docker, oci
    bool index_readable = true;
    for_each_fanned_out(root / "index", [&](const std::string& key,
                                            const fs::path& path) {
        std::optional<std::string> text =
            read_small_file(path.string(), max_index_entry_size);
        std::optional<IndexEntry> entry =
            text ? parse_index_entry(*text) : std::nullopt;
        if (!entry) {
            ++s.unreadable;
            index_readable = false;
            log::warn("gc: unreadable index entry: nothing it may name is "
                      "collected",
                      {{"key", key}});
            return;
        }
        if (entry->expires != 0 && o.now >= entry->expires + o.keep_expired) {
            ++s.index_removed;
            sweep.remove(path);
            return;
        }
        ++s.index_kept;
        live_manifests[0].insert(entry->docker_hex);
        live_manifests[1].insert(entry->oci_hex);
    });

    // 2. Live manifests mark their blobs; 3. the others go.
    HexSet live_blobs;
    bool manifests_readable = index_readable;
    const char* kinds[2] = {"docker", "oci"};
    for (int k = 0; k < 2; ++k) {
        for_each_fanned_out(
            root / "manifests" / kinds[k],
            [&](const std::string& hex, const fs::path& path) {
                if (!live_manifests[k].contains(hex)) {
                    if (index_readable) {
                        ++s.manifests_removed;
                        sweep.remove(path);
                    } else {
                        ++s.manifests_kept;
                    }
                    return;
                }
                ++s.manifests_kept;
                auto blobs = manifest_blobs(path);
                if (!blobs) {
                    ++s.unreadable;
                    manifests_readable = false;
                    log::warn("gc: unreadable manifest: no blob is collected",
                              {{"manifest", hex}, {"kind", kinds[k]}});
                    return;
                }
                live_blobs.insert(blobs->begin(), blobs->end());
            });
    }
    // From here on, manifests_readable false (an unreadable entry or
    // manifest may name any blob) keeps every blob and layer entry.

    // Layer cache entries of blobs about to go, before the blobs.
    for_each_fanned_out(root / "layers", [&](const std::string&,
                                             const fs::path& path) {
        // An entry that does not parse names no blob a build would use.
        std::optional<std::string> text = read_small_file(path.string(), 4096);
        std::optional<BlobInfo> layer =
            text ? parse_layer_cache_entry(*text) : std::nullopt;
        std::optional<std::string> digest;
        if (layer) {
            digest = layer->digest_hex;
        }
        if (digest && manifests_readable && !live_blobs.contains(*digest)) {
            ++s.layer_entries_removed;
            sweep.remove(path);
        } else {
            ++s.layer_entries_kept;
        }
    });

    for_each_fanned_out(root / "blobs" / "sha256", [&](const std::string& hex,
                                                       const fs::path& path) {
        if (manifests_readable && !live_blobs.contains(hex)) {
            ++s.blobs_removed;
            sweep.remove(path);
        } else {
            ++s.blobs_kept;
        }
    });

    // 4. What a crashed writer left in tmp/.
    if (fs::is_directory(root / tmp_dir, ec)) {
        for (const fs::directory_entry& e :
             fs::directory_iterator(root / tmp_dir)) {
            struct stat st;
            if (::lstat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
                o.now - st.st_mtime >= o.tmp_age) {
                ++s.tmp_removed;
                sweep.remove(e.path());
            }
        }
    }
    return s;
}

} // namespace nixery
