#include "storage/check.h"

#include "digest.h"
#include "image/assemble.h"
#include "json.h"
#include "memory_storage.h"
#include "storage/layer_cache.h"
#include "storage/lock.h"
#include "temp_tree.h"

#include <gtest/gtest.h>
#include <jansson.h>

namespace nixery {
namespace {

// One image assembled into a storage, then damaged one way per test; the
// same tests run on a directory and on storage that is not one (the
// bucket's path: Storage::read()'s default, no tmp/).
class Check : public ::testing::TestWithParam<bool> {
  protected:
    void SetUp() override
    {
        std::string s = dir / "prefix/nix/store/";
        test::write_file(s + "a-lib-1/lib/liba.so", std::string(5000, 'a'));
        test::write_file(s + "b-one-1/bin/one", "one", 0555);
        if (GetParam()) {
            owned = open_filesystem_storage(dir / "storage");
            store = owned.get();
        } else {
            store = &memory;
        }
        lock = open_flock_lock(dir / "lockdir");
        AssembleOptions o;
        o.store_prefix = dir / "prefix";
        Closure c;
        c.paths = {{"/nix/store/a-lib-1", 10, {}},
                   {"/nix/store/b-one-1", 10, {"/nix/store/a-lib-1"}}};
        c.roots = {"/nix/store/b-one-1"};
        ImageRequest request = parse_image_request("one", "latest").request;
        entry = assemble_image(*store, *lock, request, c, o);
        index_key = index_path(canonical_key(request));
    }

    CheckReport check() { return check_storage(*store, *lock); }

    // A blob of the image: the config (what the Docker manifest names
    // first) is as good as any.
    std::string a_blob()
    {
        std::string m = *store->get(
            manifest_path(ManifestKind::docker, entry.docker_hex), 1 << 20);
        json_t* root = json_loadb(m.data(), m.size(), 0, nullptr);
        std::string digest = json_string_value(
            json_object_get(json_object_get(root, "config"), "digest"));
        json_decref(root);
        return blob_path(digest.substr(7));
    }

    void replace(const std::string& key, const std::string& bytes)
    {
        store->put(key, bytes);
    }

    test::TempDir dir;
    test::MemoryStorage memory;
    std::unique_ptr<Storage> owned;
    Storage* store = nullptr;
    std::unique_ptr<CollectionLock> lock;
    IndexEntry entry;
    std::string index_key;
};

TEST_P(Check, ACleanStorePasses)
{
    CheckReport r = check();
    EXPECT_TRUE(r.ok()) << r.json();
    EXPECT_EQ(r.index, 1u);
    EXPECT_EQ(r.manifests, 2u);
    EXPECT_EQ(r.layer_entries, 2u); // a layer per path (stable layering)
    EXPECT_EQ(r.blobs, 4u);         // those, the symlink layer, config
    EXPECT_EQ(r.unreferenced_manifests + r.unreferenced_blobs, 0u);
    EXPECT_GT(r.bytes, 0u);
    JsonPtr j(json_loads(r.json().c_str(), 0, nullptr));
    ASSERT_TRUE(j) << r.json();
    EXPECT_TRUE(json_is_true(json_object_get(j.get(), "ok")));
    EXPECT_EQ(json_array_size(json_object_get(j.get(), "damaged_keys")), 0u);
}

TEST_P(Check, AFlippedByteInABlobIsDamage)
{
    std::string key = a_blob();
    std::string bytes = *store->get(key, 1 << 20);
    bytes[bytes.size() / 2] ^= 1;
    replace(key, bytes);
    CheckReport r = check();
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.damaged, 1u) << r.json();
    EXPECT_EQ(r.missing, 0u);
    ASSERT_EQ(r.damaged_keys.size(), 1u);
    EXPECT_EQ(r.damaged_keys[0].key, key);
    EXPECT_EQ(r.damaged_keys[0].why, "sha256 differs from its name");
}

TEST_P(Check, AMissingManifestIsNamedWithItsIndexEntry)
{
    std::string key = manifest_path(ManifestKind::oci, entry.oci_hex);
    store->remove(key);
    CheckReport r = check();
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.missing, 1u) << r.json();
    ASSERT_EQ(r.missing_keys.size(), 1u);
    EXPECT_EQ(r.missing_keys[0].key, key);
    EXPECT_EQ(r.missing_keys[0].named_by, index_key);
    // Its blobs are still named by the Docker manifest: nothing else.
    EXPECT_EQ(r.damaged, 0u);
}

TEST_P(Check, ATruncatedIndexEntryIsDamage)
{
    std::string text = *store->get(index_key, 512);
    replace(index_key, text.substr(0, text.size() / 2));
    CheckReport r = check();
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.damaged, 1u) << r.json();
    ASSERT_EQ(r.damaged_keys.size(), 1u);
    EXPECT_EQ(r.damaged_keys[0].key, index_key);
    // Its manifests are now named by nothing: garbage, not damage.
    EXPECT_EQ(r.unreferenced_manifests, 2u);
}

TEST_P(Check, AMissingBlobIsNamedWithWhatNamesIt)
{
    std::string key = a_blob();
    store->remove(key);
    CheckReport r = check();
    EXPECT_EQ(r.missing, 2u) << r.json(); // both manifests name the config
    for (const CheckProblem& p : r.missing_keys) {
        EXPECT_EQ(p.key, key);
        EXPECT_TRUE(p.named_by.starts_with("manifests/")) << p.named_by;
    }
}

TEST_P(Check, AnIndexEntryWithTheWrongSizeIsDamage)
{
    IndexEntry bad = entry;
    bad.docker_size += 1;
    replace(index_key, format_index_entry(bad));
    CheckReport r = check();
    EXPECT_EQ(r.damaged, 1u) << r.json();
    ASSERT_EQ(r.damaged_keys.size(), 1u);
    EXPECT_EQ(r.damaged_keys[0].key, index_key);
}

TEST_P(Check, ALayerEntryNamingNoBlobIsMissing)
{
    BlobInfo ghost{std::string(64, 'e'), std::string(64, 'f'), 7};
    store_cached_layer(*store, std::string(64, '1'), ghost, 1);
    CheckReport r = check();
    EXPECT_EQ(r.missing, 1u) << r.json();
    ASSERT_EQ(r.missing_keys.size(), 1u);
    EXPECT_EQ(r.missing_keys[0].key, blob_path(ghost.digest_hex));
    EXPECT_EQ(r.missing_keys[0].named_by,
              layer_cache_path(std::string(64, '1')));
}

TEST_P(Check, LeftoversOfACrashAreNotDamage)
{
    // What a build killed after its blobs and before its manifests left.
    store->put(blob_path(sha256_hex("orphan")), "orphan");
    CheckReport r = check();
    EXPECT_TRUE(r.ok()) << r.json();
    EXPECT_EQ(r.unreferenced_blobs, 1u);
}

// An image for two platforms: its lists name the platforms' manifests,
// and a manifest only a list names is checked like the others.
TEST_P(Check, ListsAndTheManifestsTheyNameAreChecked)
{
    Closure c;
    c.paths = {{"/nix/store/a-lib-1", 10, {}}};
    c.roots = {"/nix/store/a-lib-1"};
    AssembleOptions o;
    o.store_prefix = dir / "prefix";
    ImageRequest request = parse_image_request("two", "latest").request;
    std::vector<PlatformBuild> builds(2);
    builds[0].arch = Arch::amd64;
    builds[0].closure = &c;
    builds[1].arch = Arch::arm64;
    builds[1].closure = &c;
    IndexEntry two = assemble_platforms(*store, *lock, request, builds, o);
    ASSERT_TRUE(two.has_lists());
    CheckReport r = check();
    EXPECT_TRUE(r.ok()) << r.json();
    EXPECT_EQ(r.manifests, 2u + 2u * 2u + 2u); // one, two platforms, lists
    EXPECT_EQ(r.unreferenced_manifests, 0u) << r.json();

    // The arm64 OCI manifest, named by the OCI index (and by the arm64
    // name's own entry): gone.
    std::string index_text = *store->get(
        manifest_path(ManifestKind::oci_index, two.oci_index_hex), 1 << 20);
    JsonPtr root(json_loadb(index_text.data(), index_text.size(), 0, nullptr));
    std::string arm = json_string_value(json_object_get(
        json_array_get(json_object_get(root.get(), "manifests"), 1), "digest"));
    std::string arm_key = manifest_path(ManifestKind::oci, arm.substr(7));
    store->remove(arm_key);
    r = check();
    EXPECT_FALSE(r.ok());
    bool named_by_list = false;
    for (const auto& m : r.missing_keys) {
        named_by_list |= m.key == arm_key &&
                         m.named_by == manifest_path(ManifestKind::oci_index,
                                                     two.oci_index_hex);
    }
    EXPECT_TRUE(named_by_list) << r.json();

    // A list that is not one is damage.
    replace(manifest_path(ManifestKind::docker_list, two.docker_list_hex),
            "{}");
    r = check();
    EXPECT_GE(r.damaged, 1u) << r.json();
}

TEST(CheckReport, ManyProblemsAreCountedAndTheKeysCapped)
{
    test::MemoryStorage memory;
    auto lock = open_flock_lock(memory.local_tmp());
    for (std::size_t i = 0; i <= CheckReport::max_problem_keys; ++i) {
        memory.put(index_path(sha256_hex("k" + std::to_string(i))),
                   "nixery-index-v1\n");
    }
    CheckReport r = check_storage(memory, *lock);
    EXPECT_EQ(r.damaged, CheckReport::max_problem_keys + 1);
    EXPECT_EQ(r.damaged_keys.size(), CheckReport::max_problem_keys);
}

INSTANTIATE_TEST_SUITE_P(Storages, Check, ::testing::Values(true, false),
                         [](const auto& info) {
                             return info.param ? "Directory" : "NotADirectory";
                         });

} // namespace
} // namespace nixery
