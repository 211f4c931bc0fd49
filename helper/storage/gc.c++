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

// The collection's phases, in order, and what they share: the counts,
// what is known live, and whether everything that might name a file could
// be read.
class Collector {
  public:
    Collector(const GcOptions& o, GcStats& s)
        : o_(o), s_(s), root_(o.storage_root)
    {
    }

    // 1. The index: drop long-expired entries, mark the others' manifests.
    void sweep_index()
    {
        for_each_fanned_out(root_ / "index", [&](const std::string& key,
                                                 const fs::path& path) {
            std::optional<std::string> text =
                read_small_file(path.string(), max_index_entry_size);
            std::optional<IndexEntry> entry =
                text ? parse_index_entry(*text) : std::nullopt;
            if (!entry) {
                ++s_.unreadable;
                index_readable_ = false;
                log::warn("gc: unreadable index entry: nothing it may name is "
                          "collected",
                          {{"key", key}});
                return;
            }
            if (entry->expires != 0 &&
                o_.now >= entry->expires + o_.keep_expired) {
                ++s_.index_removed;
                remove(path);
                return;
            }
            ++s_.index_kept;
            live_manifests_[0].insert(entry->docker_hex);
            live_manifests_[1].insert(entry->oci_hex);
        });
        manifests_readable_ = index_readable_;
    }

    // 2. Live manifests mark their blobs; 3. the others go.
    void sweep_manifests()
    {
        const char* kinds[2] = {"docker", "oci"};
        for (int k = 0; k < 2; ++k) {
            for_each_fanned_out(
                root_ / "manifests" / kinds[k],
                [&](const std::string& hex, const fs::path& path) {
                    if (!live_manifests_[k].contains(hex)) {
                        if (index_readable_) {
                            ++s_.manifests_removed;
                            remove(path);
                        } else {
                            ++s_.manifests_kept;
                        }
                        return;
                    }
                    ++s_.manifests_kept;
                    auto blobs = manifest_blobs(path);
                    if (!blobs) {
                        ++s_.unreadable;
                        manifests_readable_ = false;
                        log::warn(
                            "gc: unreadable manifest: no blob is collected",
                            {{"manifest", hex}, {"kind", kinds[k]}});
                        return;
                    }
                    live_blobs_.insert(blobs->begin(), blobs->end());
                });
        }
    }
    // From here on, manifests_readable_ false (an unreadable entry or
    // manifest may name any blob) keeps every blob and layer entry.

    // Layer cache entries of blobs about to go, before the blobs.
    void sweep_layer_entries()
    {
        for_each_fanned_out(
            root_ / "layers", [&](const std::string&, const fs::path& path) {
                // An entry that does not parse names no blob a build would use.
                std::optional<std::string> text =
                    read_small_file(path.string(), 4096);
                std::optional<BlobInfo> layer =
                    text ? parse_layer_cache_entry(*text) : std::nullopt;
                if (layer && blob_goes(layer->digest_hex)) {
                    ++s_.layer_entries_removed;
                    remove(path);
                } else {
                    ++s_.layer_entries_kept;
                }
            });
    }

    void sweep_blobs()
    {
        for_each_fanned_out(root_ / "blobs" / "sha256",
                            [&](const std::string& hex, const fs::path& path) {
                                if (blob_goes(hex)) {
                                    ++s_.blobs_removed;
                                    remove(path);
                                } else {
                                    ++s_.blobs_kept;
                                }
                            });
    }

    // 4. What a crashed writer left in tmp/.
    void sweep_tmp()
    {
        std::error_code ec;
        if (!fs::is_directory(root_ / tmp_dir, ec)) {
            return;
        }
        for (const fs::directory_entry& e :
             fs::directory_iterator(root_ / tmp_dir)) {
            struct stat st;
            if (::lstat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
                o_.now - st.st_mtime >= o_.tmp_age) {
                ++s_.tmp_removed;
                remove(e.path());
            }
        }
    }

  private:
    bool blob_goes(const std::string& hex) const
    {
        return manifests_readable_ && !live_blobs_.contains(hex);
    }

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

    const GcOptions& o_;
    GcStats& s_;
    const fs::path root_;
    HexSet live_manifests_[2]; // by ManifestKind: docker, oci
    HexSet live_blobs_;
    bool index_readable_ = true;
    bool manifests_readable_ = true;
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
    std::error_code ec;
    if (!fs::is_directory(o.storage_root, ec)) {
        throw std::runtime_error("gc: not a directory: " + o.storage_root);
    }
    StorageLock lock = StorageLock::exclusive(o.storage_root, o.lock_timeout);
    GcStats s;
    Collector collector(o, s);
    collector.sweep_index();
    collector.sweep_manifests();
    collector.sweep_layer_entries();
    collector.sweep_blobs();
    collector.sweep_tmp();
    return s;
}

} // namespace nixery
