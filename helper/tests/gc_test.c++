#include "storage/gc.h"

#include "image/assemble.h"
#include "memory_storage.h"
#include "storage/lock.h"
#include "temp_tree.h"

#include <gtest/gtest.h>
#include <jansson.h>

#include <filesystem>
#include <set>
#include <sys/stat.h>
#include <utime.h>

namespace nixery {
namespace {

namespace fs = std::filesystem;

// Two images that share one layer (lib, requested by both), one pinned and
// one from a moving source that expires at t = 1000.
class Gc : public ::testing::Test {
  protected:
    void SetUp() override
    {
        std::string s = dir / "prefix/nix/store/";
        test::write_file(s + "a-lib-1/lib/liba.so", std::string(5000, 'a'));
        test::write_file(s + "b-one-1/bin/one", "one", 0555);
        test::write_file(s + "c-two-1/bin/two", "two", 0555);
        root = dir / "storage";
        store = open_filesystem_storage(root);
        lock = open_flock_lock(root);
        assemble.store_prefix = dir / "prefix";
        pinned = build("one", {"/nix/store/a-lib-1", "/nix/store/b-one-1"}, 0);
        moving =
            build("two", {"/nix/store/a-lib-1", "/nix/store/c-two-1"}, 1000);
        gc.keep_expired = 100;
        gc.lock_timeout = std::chrono::milliseconds(200);
    }

    IndexEntry build(const std::string& name, std::vector<std::string> roots,
                     std::int64_t expires)
    {
        Closure c;
        for (const std::string& r : roots) {
            c.paths.push_back({r, 10, {}});
        }
        c.roots = std::move(roots);
        assemble.expires = expires;
        return assemble_image(target ? *target : *store, *lock,
                              parse_image_request(name, "latest").request, c,
                              assemble);
    }

    std::string at(const std::string& rel) const { return root + "/" + rel; }
    bool exists(const std::string& rel) const { return fs::exists(at(rel)); }

    // The config and layer digests of an image's Docker manifest.
    std::set<std::string> blobs_of(const IndexEntry& e) const
    {
        std::string text = test::read_file(
            at(manifest_path(ManifestKind::docker, e.docker_hex)));
        json_t* root = json_loads(text.c_str(), 0, nullptr);
        std::set<std::string> out;
        auto add = [&](json_t* d) {
            out.insert(std::string(
                json_string_value(json_object_get(d, "digest")) + 7));
        };
        add(json_object_get(root, "config"));
        std::size_t i;
        json_t* l;
        json_array_foreach(json_object_get(root, "layers"), i, l)
        {
            add(l);
        }
        json_decref(root);
        return out;
    }

    std::size_t files_under(const std::string& rel) const
    {
        std::size_t n = 0;
        for (auto& e : fs::recursive_directory_iterator(at(rel))) {
            n += e.is_regular_file();
        }
        return n;
    }

    GcStats collect() { return collect_garbage(*store, *lock, gc); }

    test::TempDir dir;
    std::string root;
    std::unique_ptr<Storage> store;
    std::unique_ptr<CollectionLock> lock;
    Storage* target = nullptr; // build() into this instead of `store`
    AssembleOptions assemble;
    IndexEntry pinned, moving;
    GcOptions gc;
};

TEST_F(Gc, KeepsEverythingWhileEntriesAreLive)
{
    std::size_t blobs = files_under("blobs");
    gc.now = 1000 + 99; // expired, but within keep_expired
    GcStats s = collect();
    EXPECT_EQ(s.index_kept, 2u);
    EXPECT_EQ(s.index_removed + s.manifests_removed + s.blobs_removed +
                  s.layer_entries_removed + s.tmp_removed,
              0u)
        << s.json();
    EXPECT_EQ(s.blobs_kept, blobs);
    EXPECT_EQ(files_under("blobs"), blobs);
}

TEST_F(Gc, CollectsWhatOnlyALongExpiredEntryReferenced)
{
    std::set<std::string> keep = blobs_of(pinned);
    std::set<std::string> gone;
    for (const std::string& b : blobs_of(moving)) {
        if (!keep.contains(b)) {
            gone.insert(b);
        }
    }
    // The shared lib layer is in both; its config, symlink and own layers
    // are the moving image's alone.
    ASSERT_EQ(blobs_of(moving).size() - gone.size(), 1u);
    ASSERT_EQ(gone.size(), 3u);
    std::size_t layer_entries = files_under("layers");

    gc.now = 1000 + 100;
    GcStats s = collect();
    EXPECT_EQ(s.index_removed, 1u) << s.json();
    EXPECT_EQ(s.index_kept, 1u);
    EXPECT_EQ(s.manifests_removed, 2u); // docker and OCI
    EXPECT_EQ(s.blobs_removed, gone.size());
    EXPECT_EQ(s.layer_entries_removed, 1u); // the c-two layer
    EXPECT_EQ(files_under("layers"), layer_entries - 1);
    EXPECT_GT(s.bytes_removed, 0u);
    EXPECT_EQ(s.unreadable, 0u);

    auto two_key = canonical_key(parse_image_request("two", "latest").request);
    EXPECT_FALSE(exists(index_path(two_key)));
    EXPECT_FALSE(
        exists(manifest_path(ManifestKind::docker, moving.docker_hex)));
    EXPECT_FALSE(exists(manifest_path(ManifestKind::oci, moving.oci_hex)));
    for (const std::string& b : gone) {
        EXPECT_FALSE(exists(blob_path(b))) << b;
    }
    // The pinned image is whole.
    EXPECT_TRUE(exists(manifest_path(ManifestKind::docker, pinned.docker_hex)));
    EXPECT_TRUE(exists(manifest_path(ManifestKind::oci, pinned.oci_hex)));
    for (const std::string& b : keep) {
        EXPECT_TRUE(exists(blob_path(b))) << b;
    }

    // A second run finds nothing more; a rebuild gives the same image.
    s = collect();
    EXPECT_EQ(s.index_removed + s.manifests_removed + s.blobs_removed, 0u);
    IndexEntry again =
        build("two", {"/nix/store/a-lib-1", "/nix/store/c-two-1"}, 1000);
    EXPECT_EQ(again, moving);
    for (const std::string& b : blobs_of(again)) {
        EXPECT_TRUE(exists(blob_path(b))) << b;
    }
}

// A pinned image for two platforms whose arm64 image had its own entry
// from a moving source, long expired: the lists keep the arm64 manifests
// and their blobs; the list of the expired image goes with it.
TEST_F(Gc, ListsKeepThePlatformsManifests)
{
    Closure c;
    c.paths.push_back({"/nix/store/c-two-1", 10, {}});
    c.roots = {"/nix/store/c-two-1"};
    assemble.expires = 1000; // the arm64 image's own entry expires
    ImageRequest arm = parse_image_request("arm64/three", "latest").request;
    IndexEntry arm_entry = assemble_image(*store, *lock, arm, c, assemble);
    assemble.expires = 0;
    IndexEntry multi = assemble_platforms(
        *store, *lock, parse_image_request("three", "latest").request,
        {{Arch::amd64, &c, {}}, {Arch::arm64, nullptr, arm_entry}}, assemble);
    ASSERT_TRUE(multi.has_lists());
    // And one for two platforms that expires: its lists go.
    Closure d;
    d.paths.push_back({"/nix/store/b-one-1", 10, {}});
    d.roots = {"/nix/store/b-one-1"};
    assemble.expires = 1000;
    IndexEntry gone_multi = assemble_platforms(
        *store, *lock, parse_image_request("four", "latest").request,
        {{Arch::amd64, &d, {}}, {Arch::arm64, &d, {}}}, assemble);
    ASSERT_TRUE(gone_multi.has_lists());

    gc.now = 5000;
    GcStats s = collect();
    EXPECT_EQ(s.unreadable, 0u) << s.json();
    EXPECT_FALSE(exists(index_path(canonical_key(arm))));
    for (ManifestKind k : {ManifestKind::docker, ManifestKind::oci}) {
        EXPECT_TRUE(exists(manifest_path(k, arm_entry.hex(k))));
        EXPECT_TRUE(exists(manifest_path(k, multi.hex(k))));
    }
    for (ManifestKind k :
         {ManifestKind::docker_list, ManifestKind::oci_index}) {
        EXPECT_TRUE(exists(manifest_path(k, multi.hex(k))));
        EXPECT_FALSE(exists(manifest_path(k, gone_multi.hex(k))));
    }
    for (const std::string& b : blobs_of(arm_entry)) {
        EXPECT_TRUE(exists(blob_path(b))) << b;
    }

    // An unreadable live list may name any manifest: none is collected.
    test::write_file(
        at(manifest_path(ManifestKind::oci_index, multi.oci_index_hex)),
        "{\"manifests\":7}");
    pinned = build("one", {"/nix/store/a-lib-1", "/nix/store/b-one-1"}, 1);
    gc.now = 6000;
    s = collect();
    EXPECT_EQ(s.unreadable, 1u) << s.json();
    EXPECT_EQ(s.manifests_removed, 0u);
    EXPECT_EQ(s.blobs_removed, 0u);
}

TEST_F(Gc, DryRunCountsAndDeletesNothing)
{
    std::size_t before = files_under(".");
    gc.now = 5000;
    gc.dry_run = true;
    GcStats s = collect();
    EXPECT_EQ(s.index_removed, 1u);
    EXPECT_EQ(s.blobs_removed, 3u);
    EXPECT_EQ(files_under("."), before);
}

TEST_F(Gc, AnUnreadableEntryKeepsManifestsAndBlobs)
{
    test::write_file(at(index_path(std::string(64, 'e'))), "garbage\n");
    std::size_t blobs = files_under("blobs");
    gc.now = 5000;
    GcStats s = collect();
    EXPECT_EQ(s.unreadable, 1u);
    EXPECT_EQ(s.index_removed, 1u); // the expired entry itself still goes
    EXPECT_EQ(s.manifests_removed, 0u);
    EXPECT_EQ(s.blobs_removed, 0u);
    EXPECT_EQ(s.layer_entries_removed, 0u);
    EXPECT_EQ(files_under("blobs"), blobs);
}

TEST_F(Gc, AnUnreadableLiveManifestKeepsEveryBlob)
{
    test::write_file(at(manifest_path(ManifestKind::oci, pinned.oci_hex)),
                     "{not json");
    gc.now = 5000;
    GcStats s = collect();
    EXPECT_EQ(s.unreadable, 1u);
    EXPECT_EQ(s.manifests_removed, 2u); // unreferenced ones may go
    EXPECT_EQ(s.blobs_removed, 0u);
    EXPECT_EQ(s.layer_entries_removed, 0u);
}

TEST_F(Gc, LeavesForeignFilesAndFreshTemporaryFiles)
{
    test::write_file(at("blobs/sha256/ab/README"), "mine");
    test::write_file(at("tmp/old"), "crashed write");
    test::write_file(at("tmp/new"), "being written");
    struct utimbuf old_time {
        100, 100
    };
    ASSERT_EQ(::utime(at("tmp/old").c_str(), &old_time), 0);
    gc.now = ::time(nullptr);
    GcStats s = collect();
    EXPECT_EQ(s.tmp_removed, 1u);
    EXPECT_FALSE(exists("tmp/old"));
    EXPECT_TRUE(exists("tmp/new"));
    EXPECT_TRUE(exists("blobs/sha256/ab/README"));
}

TEST_F(Gc, WaitsForBuildsHoldingTheLock)
{
    gc.now = 5000;
    {
        auto building = open_flock_lock(root)->shared();
        EXPECT_THROW(collect(), std::runtime_error);
        EXPECT_TRUE(
            exists(manifest_path(ManifestKind::docker, moving.docker_hex)));
    }
    GcStats s = collect();
    EXPECT_EQ(s.index_removed, 1u);
}

TEST_F(Gc, SameCollectionInStorageThatIsNotADirectory)
{
    // The same two images in a backend that is not a directory, collected
    // at the same time: the same counts and the same objects left.
    test::MemoryStorage memory;
    target = &memory;
    EXPECT_EQ(build("one", {"/nix/store/a-lib-1", "/nix/store/b-one-1"}, 0),
              pinned);
    EXPECT_EQ(build("two", {"/nix/store/a-lib-1", "/nix/store/c-two-1"}, 1000),
              moving);
    // Not a directory: what is under tmp/ there is not the collector's.
    memory.put("tmp/old", "not a leftover");
    gc.now = 1000 + 100;
    gc.tmp_age = 0;
    GcStats in_memory = collect_garbage(memory, *lock, gc);
    GcStats on_disk = collect();
    EXPECT_EQ(in_memory.json(), on_disk.json());
    EXPECT_EQ(in_memory.blobs_removed, 3u);
    EXPECT_EQ(in_memory.tmp_removed, 0u);

    std::set<std::string> left, files;
    for (const auto& [key, bytes] : memory.objects()) {
        left.insert(key);
    }
    for (auto& e : fs::recursive_directory_iterator(root)) {
        std::string rel = e.path().string().substr(root.size() + 1);
        if (e.is_regular_file() && rel != gc_lock_name) {
            files.insert(rel);
        }
    }
    files.insert("tmp/old");
    EXPECT_EQ(left, files);
}

// A lock whose hold is lost (a Redis lease not renewed in time).
class LostLock final : public CollectionLock {
  public:
    struct Hold final : LockHold {
        void check() const override { throw std::runtime_error("lost"); }
    };
    std::string describe() const override { return "lost"; }
    std::unique_ptr<LockHold> shared() override
    {
        return std::make_unique<Hold>();
    }
    std::unique_ptr<LockHold> exclusive(std::chrono::milliseconds) override
    {
        return std::make_unique<Hold>();
    }
};

TEST_F(Gc, ALostLockStopsTheCollectionBeforeItRemoves)
{
    std::size_t before = files_under(".");
    gc.now = 5000;
    LostLock lost;
    EXPECT_THROW(collect_garbage(*store, lost, gc), std::runtime_error);
    EXPECT_EQ(files_under("."), before);
    EXPECT_EQ(collect().index_removed, 1u) << "there was something to remove";
}

} // namespace
} // namespace nixery
