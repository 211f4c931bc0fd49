#include "storage/gc.h"
#include "json.h"

#include "base/log.h"
#include "digest.h"
#include "storage/layer_cache.h"
#include "storage/references.h"
#include "storage_layout.h"

#include <jansson.h>

#include <functional>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <unordered_set>
#include <vector>

namespace nixery {

namespace {

using HexSet = std::unordered_set<std::string>;

constexpr std::size_t max_manifest_size = 4 << 20;
constexpr std::size_t max_layer_entry_size = 4096;

// The whole small object, nullopt when it cannot be read (gone, too
// large, an I/O error).
std::optional<std::string> read_object(Storage& storage, const std::string& key,
                                       std::size_t max)
{
    try {
        return storage.get(key, max);
    } catch (const StorageError& e) {
        log::warn("gc: cannot read", {{"key", key}, {"error", e.what()}});
        return std::nullopt;
    }
}

std::vector<std::string> hexes(const std::vector<Reference>& refs)
{
    std::vector<std::string> out;
    out.reserve(refs.size());
    for (const Reference& r : refs) {
        out.push_back(r.hex);
    }
    return out;
}

// The config and layer digests a manifest names; nullopt when unreadable.
std::optional<std::vector<std::string>>
manifest_blobs(const std::optional<std::string>& text)
{
    auto refs = text ? manifest_references(*text) : std::nullopt;
    return refs ? std::optional(hexes(*refs)) : std::nullopt;
}

// The manifest digests a list (a Docker manifest list, an OCI index)
// names; nullopt when unreadable.
std::optional<std::vector<std::string>>
list_manifests(const std::optional<std::string>& text)
{
    auto refs = text ? list_references(*text) : std::nullopt;
    return refs ? std::optional(hexes(*refs)) : std::nullopt;
}

std::size_t kind_slot(ManifestKind kind)
{
    return static_cast<std::size_t>(kind);
}

// The collection's phases, in order, and what they share: the counts,
// what is known live, and whether everything that might name an object
// could be read.
class Collector {
  public:
    Collector(Storage& storage, const LockHold& held, const GcOptions& o,
              GcStats& s)
        : storage_(storage), held_(held), o_(o), s_(s)
    {
    }

    // 1. The index: drop long-expired entries, mark the others' manifests.
    void sweep_index()
    {
        for (const Fanned& f : list_fanned_out(storage_, "index/")) {
            std::optional<std::string> text =
                read_object(storage_, f.key, max_index_entry_size);
            std::optional<IndexEntry> entry =
                text ? parse_index_entry(*text) : std::nullopt;
            if (!entry) {
                ++s_.unreadable;
                index_readable_ = false;
                log::warn("gc: unreadable index entry: nothing it may name is "
                          "collected",
                          {{"key", f.hex}});
                continue;
            }
            if (entry->expires != 0 &&
                o_.now >= entry->expires + o_.keep_expired) {
                ++s_.index_removed;
                remove(f.key, f.size);
                continue;
            }
            ++s_.index_kept;
            for (ManifestKind kind : all_manifest_kinds) {
                if (!entry->hex(kind).empty()) {
                    live_manifests_[kind_slot(kind)].insert(entry->hex(kind));
                }
            }
        }
        manifests_readable_ = index_readable_;
    }

    // 2. Live lists mark their platforms' manifests, live manifests their
    // blobs; 3. the others go. Lists first: the manifests they name are
    // live even when no index entry names them.
    void sweep_manifests()
    {
        for (ManifestKind kind :
             {ManifestKind::docker_list, ManifestKind::oci_index,
              ManifestKind::docker, ManifestKind::oci}) {
            const std::size_t k = kind_slot(kind);
            std::string prefix =
                "manifests/" + std::string(manifest_kind_name(kind)) + "/";
            for (const Fanned& f : list_fanned_out(storage_, prefix)) {
                if (!live_manifests_[k].contains(f.hex)) {
                    if (index_readable_) {
                        ++s_.manifests_removed;
                        remove(f.key, f.size);
                    } else {
                        ++s_.manifests_kept;
                    }
                    continue;
                }
                ++s_.manifests_kept;
                std::optional<std::string> text =
                    read_object(storage_, f.key, max_manifest_size);
                if (is_list_kind(kind)) {
                    auto members = list_manifests(text);
                    if (!members) {
                        // It may name any manifest: keep them all.
                        ++s_.unreadable;
                        index_readable_ = manifests_readable_ = false;
                        log::warn("gc: unreadable manifest list: no manifest "
                                  "or blob is collected",
                                  {{"manifest", f.hex},
                                   {"kind", manifest_kind_name(kind)}});
                        continue;
                    }
                    live_manifests_[kind_slot(list_member_kind(kind))].insert(
                        members->begin(), members->end());
                    continue;
                }
                auto blobs = manifest_blobs(text);
                if (!blobs) {
                    ++s_.unreadable;
                    manifests_readable_ = false;
                    log::warn("gc: unreadable manifest: no blob is collected",
                              {{"manifest", f.hex},
                               {"kind", manifest_kind_name(kind)}});
                    continue;
                }
                live_blobs_.insert(blobs->begin(), blobs->end());
            }
        }
    }
    // From here on, manifests_readable_ false (an unreadable entry or
    // manifest may name any blob) keeps every blob and layer entry.

    // Layer cache entries of blobs about to go, before the blobs.
    void sweep_layer_entries()
    {
        for (const Fanned& f : list_fanned_out(storage_, "layers/")) {
            // An entry that does not parse names no blob a build would use.
            std::optional<std::string> text =
                read_object(storage_, f.key, max_layer_entry_size);
            std::optional<BlobInfo> layer =
                text ? parse_layer_cache_entry(*text) : std::nullopt;
            if (layer && blob_goes(layer->digest_hex)) {
                ++s_.layer_entries_removed;
                remove(f.key, f.size);
            } else {
                ++s_.layer_entries_kept;
            }
        }
    }

    void sweep_blobs()
    {
        for (const Fanned& f : list_fanned_out(storage_, "blobs/sha256/")) {
            if (blob_goes(f.hex)) {
                ++s_.blobs_removed;
                remove(f.key, f.size);
            } else {
                ++s_.blobs_kept;
            }
        }
    }

    // 4. What a crashed writer left in a storage directory's tmp/.
    void sweep_tmp()
    {
        if (!storage_.filesystem_root()) {
            return;
        }
        std::vector<StoredObject> old;
        storage_.list(std::string(tmp_dir) + "/", [&](const StoredObject& o) {
            bool top = o.key.find('/', tmp_dir.size() + 1) == o.key.npos;
            if (top && o_.now - o.mtime >= o_.tmp_age) {
                old.push_back(o);
            }
        });
        for (const StoredObject& o : old) {
            ++s_.tmp_removed;
            remove(o.key, o.size);
        }
    }

  private:
    bool blob_goes(const std::string& hex) const
    {
        return manifests_readable_ && !live_blobs_.contains(hex);
    }

    void remove(const std::string& key, std::uint64_t size)
    {
        // A lost lock (a Redis lease not renewed in time) stops the
        // collection before it removes what a build may now be using.
        held_.check();
        s_.bytes_removed += size;
        if (o_.dry_run) {
            return;
        }
        try {
            storage_.remove(key);
        } catch (const StorageError& e) {
            log::warn("gc: cannot remove", {{"key", key}, {"error", e.what()}});
        }
    }

    Storage& storage_;
    const LockHold& held_;
    const GcOptions& o_;
    GcStats& s_;
    HexSet live_manifests_[std::size(all_manifest_kinds)]; // by kind_slot()
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

GcStats collect_garbage(Storage& storage, CollectionLock& lock,
                        const GcOptions& o)
{
    std::unique_ptr<LockHold> held = lock.exclusive(o.lock_timeout);
    GcStats s;
    Collector collector(storage, *held, o, s);
    collector.sweep_index();
    collector.sweep_manifests();
    collector.sweep_layer_entries();
    collector.sweep_blobs();
    collector.sweep_tmp();
    return s;
}

} // namespace nixery
