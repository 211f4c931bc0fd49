#include "storage/check.h"

#include "digest.h"
#include "json.h"
#include "media_types.h"
#include "storage/layer_cache.h"
#include "storage/references.h"
#include "storage_layout.h"

#include <jansson.h>

#include <iterator>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace nixery {

namespace {

constexpr std::size_t max_manifest_size = 4 << 20;
constexpr std::size_t max_layer_entry_size = 4096;

// Objects `<prefix><hh>/<hex>` as the layout names them, by hex, with
// their listed sizes.
std::map<std::string, std::uint64_t> fanned_by_hex(Storage& storage,
                                                   const std::string& prefix)
{
    std::map<std::string, std::uint64_t> out;
    for (Fanned& f : list_fanned_out(storage, prefix)) {
        out.emplace(std::move(f.hex), f.size);
    }
    return out;
}

class Checker {
  public:
    Checker(Storage& storage, CheckReport& r) : storage_(storage), r_(r) {}

    // Index entries, read as they are listed (an entry replaced later
    // names manifests stored before it).
    void index()
    {
        for (const auto& [hex, size] : fanned_by_hex(storage_, "index/")) {
            std::string key = index_path(hex);
            std::optional<std::string> text =
                read_small(key, max_index_entry_size);
            if (!text) {
                continue;
            }
            ++r_.index;
            std::optional<IndexEntry> entry = parse_index_entry(*text);
            if (!entry) {
                damaged(key, "not a valid index entry");
                continue;
            }
            for (ManifestKind kind : all_manifest_kinds) {
                // A version 1 entry names no lists.
                if (!entry->hex(kind).empty()) {
                    wanted_manifests_.push_back(
                        {kind, entry->hex(kind), entry->size(kind), key});
                }
            }
        }
    }

    void layer_entries()
    {
        for (const auto& [hex, size] : fanned_by_hex(storage_, "layers/")) {
            std::string key = layer_cache_path(hex);
            std::optional<std::string> text =
                read_small(key, max_layer_entry_size);
            if (!text) {
                continue;
            }
            ++r_.layer_entries;
            std::optional<BlobInfo> blob = parse_layer_cache_entry(*text);
            if (!blob) {
                damaged(key, "not a valid layer cache entry");
                continue;
            }
            wanted_blobs_.push_back({blob->digest_hex, blob->size, key});
        }
    }

    void manifests()
    {
        struct StoredList {
            ManifestKind kind;
            std::string key;
            std::string text;
        };
        std::vector<StoredList> lists;
        std::unordered_map<std::string, std::uint64_t> stored[kinds];
        for (ManifestKind kind : all_manifest_kinds) {
            std::string prefix =
                "manifests/" + std::string(manifest_kind_name(kind)) + "/";
            for (const auto& [hex, size] : fanned_by_hex(storage_, prefix)) {
                std::string key = manifest_path(kind, hex);
                std::optional<std::string> text =
                    read_small(key, max_manifest_size);
                if (!text) {
                    continue;
                }
                ++r_.manifests;
                r_.bytes += text->size();
                stored[index_of(kind)].emplace(hex, text->size());
                if (sha256_hex(*text) != hex) {
                    damaged(key, "sha256 differs from its name");
                    continue;
                }
                if (is_list_kind(kind)) {
                    // It names manifests: walked below, once every
                    // manifest is known.
                    lists.push_back({kind, key, std::move(*text)});
                    continue;
                }
                auto refs = manifest_references(*text);
                if (!refs) {
                    damaged(key, "not an image manifest");
                    continue;
                }
                for (const Reference& d : *refs) {
                    wanted_blobs_.push_back({d.hex, d.size, key});
                }
            }
        }
        for (const StoredList& l : lists) {
            auto refs = list_references(l.text);
            if (!refs) {
                damaged(l.key, "not a manifest list or image index");
                continue;
            }
            for (const Reference& d : *refs) {
                wanted_manifests_.push_back(
                    {list_member_kind(l.kind), d.hex, d.size, l.key});
            }
        }
        std::unordered_set<std::string> named[kinds];
        for (const Wanted& w : wanted_manifests_) {
            std::string key = manifest_path(w.kind, w.hex);
            named[index_of(w.kind)].insert(w.hex);
            auto it = stored[index_of(w.kind)].find(w.hex);
            if (it == stored[index_of(w.kind)].end()) {
                missing(key, w.named_by);
            } else if (it->second != w.size) {
                damaged(w.named_by, "records size " + std::to_string(w.size) +
                                        " for " + key + ", stored " +
                                        std::to_string(it->second));
            }
        }
        for (std::size_t k = 0; k < kinds; ++k) {
            for (const auto& [hex, size] : stored[k]) {
                r_.unreferenced_manifests += named[k].contains(hex) ? 0 : 1;
            }
        }
    }

    void blobs()
    {
        std::unordered_map<std::string, std::uint64_t> stored;
        for (const auto& [hex, listed] :
             fanned_by_hex(storage_, "blobs/sha256/")) {
            std::string key = blob_path(hex);
            Sha256 hash;
            std::uint64_t size = 0;
            bool there = false;
            try {
                there = storage_.read(key, [&](std::string_view piece) {
                    hash.update(piece);
                    size += piece.size();
                });
            } catch (const StorageError& e) {
                ++r_.blobs;
                damaged(key, std::string("unreadable: ") + e.what());
                continue;
            }
            if (!there) {
                continue;
            }
            ++r_.blobs;
            r_.bytes += size;
            stored.emplace(hex, size);
            if (hash.hex_digest() != hex) {
                damaged(key, "sha256 differs from its name");
            }
        }
        std::unordered_set<std::string> named;
        for (const WantedBlob& w : wanted_blobs_) {
            named.insert(w.hex);
            auto it = stored.find(w.hex);
            if (it == stored.end()) {
                missing(blob_path(w.hex), w.named_by);
            } else if (it->second != w.size) {
                damaged(w.named_by, "records size " + std::to_string(w.size) +
                                        " for " + blob_path(w.hex) +
                                        ", stored " +
                                        std::to_string(it->second));
            }
        }
        for (const auto& [hex, size] : stored) {
            r_.unreferenced_blobs += named.contains(hex) ? 0 : 1;
        }
    }

    void tmp()
    {
        if (!storage_.filesystem_root()) {
            return;
        }
        storage_.list(std::string(tmp_dir) + "/",
                      [&](const StoredObject&) { ++r_.tmp_files; });
    }

  private:
    struct Wanted {
        ManifestKind kind;
        std::string hex;
        std::uint64_t size;
        std::string named_by;
    };
    struct WantedBlob {
        std::string hex;
        std::uint64_t size;
        std::string named_by;
    };

    static constexpr std::size_t kinds = std::size(all_manifest_kinds);

    static std::size_t index_of(ManifestKind kind)
    {
        return static_cast<std::size_t>(kind);
    }

    // nullopt when it went away since it was listed (removed by hand);
    // an object that cannot be read, or is too large, is damaged.
    std::optional<std::string> read_small(const std::string& key,
                                          std::size_t max)
    {
        try {
            return storage_.get(key, max);
        } catch (const StorageError& e) {
            damaged(key, std::string("unreadable: ") + e.what());
            return std::nullopt;
        }
    }

    void damaged(const std::string& key, std::string why)
    {
        if (r_.damaged++ < CheckReport::max_problem_keys) {
            r_.damaged_keys.push_back({key, std::move(why), {}});
        }
    }

    void missing(const std::string& key, const std::string& named_by)
    {
        if (r_.missing++ < CheckReport::max_problem_keys) {
            r_.missing_keys.push_back({key, {}, named_by});
        }
    }

    Storage& storage_;
    CheckReport& r_;
    std::vector<Wanted> wanted_manifests_;
    std::vector<WantedBlob> wanted_blobs_;
};

json_t* integer(std::uint64_t n)
{
    return json_integer(static_cast<json_int_t>(n));
}

} // namespace

std::string CheckReport::json() const
{
    JsonPtr o(json_object());
    json_object_set_new(o.get(), "ok", json_boolean(ok()));
    json_t* checked = json_object();
    json_object_set_new(checked, "index", integer(index));
    json_object_set_new(checked, "manifests", integer(manifests));
    json_object_set_new(checked, "blobs", integer(blobs));
    json_object_set_new(checked, "layer_entries", integer(layer_entries));
    json_object_set_new(checked, "bytes", integer(bytes));
    json_object_set_new(o.get(), "checked", checked);
    json_object_set_new(o.get(), "damaged", integer(damaged));
    json_object_set_new(o.get(), "missing", integer(missing));
    json_t* d = json_array();
    for (const CheckProblem& p : damaged_keys) {
        json_t* item = json_object();
        json_object_set_new(item, "key", lossy_json_string(p.key));
        json_object_set_new(item, "why", lossy_json_string(p.why));
        json_array_append_new(d, item);
    }
    json_object_set_new(o.get(), "damaged_keys", d);
    json_t* m = json_array();
    for (const CheckProblem& p : missing_keys) {
        json_t* item = json_object();
        json_object_set_new(item, "key", lossy_json_string(p.key));
        json_object_set_new(item, "named_by", lossy_json_string(p.named_by));
        json_array_append_new(m, item);
    }
    json_object_set_new(o.get(), "missing_keys", m);
    json_t* u = json_object();
    json_object_set_new(u, "manifests", integer(unreferenced_manifests));
    json_object_set_new(u, "blobs", integer(unreferenced_blobs));
    json_object_set_new(o.get(), "unreferenced", u);
    json_object_set_new(o.get(), "tmp_files", integer(tmp_files));
    return json_dump(o.get(), JSON_COMPACT | JSON_PRESERVE_ORDER);
}

CheckReport check_storage(Storage& storage, CollectionLock& lock)
{
    std::unique_ptr<LockHold> held = lock.shared();
    CheckReport report;
    Checker checker(storage, report);
    checker.index();
    checker.layer_entries();
    checker.manifests();
    checker.blobs();
    checker.tmp();
    held->check();
    return report;
}

} // namespace nixery
