#include "image/assemble.h"

#include "image/image_index.h"
#include "image/layering.h"
#include "storage/layer_cache.h"
#include "temp_tree.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

namespace nixery {
namespace {

class Assemble : public ::testing::Test {
  protected:
    void SetUp() override
    {
        std::string s = dir / "prefix/nix/store/";
        test::write_file(s + "a-lib-1/lib/liba.so", std::string(5000, 'a'));
        test::write_file(s + "b-app-1/bin/app", "app", 0555);
        test::write_file(s + "c-bash-interactive-5/bin/bash", "bash", 0555);
        closure.paths = {{"/nix/store/a-lib-1", 5000, {}},
                         {"/nix/store/b-app-1", 3, {"/nix/store/a-lib-1"}},
                         {"/nix/store/c-bash-interactive-5", 4, {}}};
        closure.roots = {"/nix/store/b-app-1",
                         "/nix/store/c-bash-interactive-5"};
        request = parse_image_request("app", "latest").request;
        options.store_prefix = dir / "prefix";
        use_storage(dir / "storage");
    }

    void use_storage(const std::string& root)
    {
        root_ = root;
        store = open_filesystem_storage(root);
        lock = open_flock_lock(root);
    }

    IndexEntry assemble(const Closure& c)
    {
        return assemble_image(*store, *lock, request, c, options);
    }

    std::string storage(const std::string& rel) const
    {
        return root_ + "/" + rel;
    }

    test::TempDir dir;
    Closure closure;
    ImageRequest request;
    AssembleOptions options;
    std::string root_;
    std::unique_ptr<Storage> store;
    std::unique_ptr<CollectionLock> lock;
};

TEST_F(Assemble, PublishesManifestsAndIndexEntry)
{
    options.expires = 1234;
    IndexEntry e = assemble(closure);
    EXPECT_EQ(e.expires, 1234);
    auto parsed = parse_index_entry(
        test::read_file(storage(index_path(canonical_key(request)))));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, e);
    EXPECT_FALSE(e.has_lists());
    for (ManifestKind k : {ManifestKind::docker, ManifestKind::oci}) {
        std::string m = test::read_file(storage(manifest_path(k, e.hex(k))));
        EXPECT_EQ(m.size(), e.size(k));
        EXPECT_NE(m.find(manifest_media_type(k)), std::string::npos);
    }
    EXPECT_NE(e.docker_hex, e.oci_hex);
}

TEST_F(Assemble, SeveralPlatformsMakeListsUnderOneEntry)
{
    options.expires = 99;
    std::vector<PlatformBuild> builds{{Arch::amd64, &closure, {}},
                                      {Arch::arm64, &closure, {}}};
    IndexEntry e = assemble_platforms(*store, *lock, request, builds, options);
    EXPECT_TRUE(e.has_lists());
    EXPECT_EQ(e.expires, 99);
    auto parsed = parse_index_entry(
        test::read_file(storage(index_path(canonical_key(request)))));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, e);

    // The arm64 image has its own entry: the one `arm64/app` finds.
    ImageRequest arm = parse_image_request("arm64/app", "latest").request;
    auto arm_entry = parse_index_entry(
        test::read_file(storage(index_path(canonical_key(arm)))));
    ASSERT_TRUE(arm_entry.has_value());
    EXPECT_FALSE(arm_entry->has_lists());
    EXPECT_EQ(arm_entry->expires, 99);
    // The amd64 manifests are the default platform's, as assemble_image()
    // alone gives them.
    use_storage(dir / "storage-single");
    IndexEntry single = assemble(closure);
    EXPECT_EQ(single.docker_hex, e.docker_hex);
    EXPECT_EQ(single.oci_hex, e.oci_hex);
    use_storage(dir / "storage");

    // Each list names its family's manifests, amd64 first.
    for (ManifestKind k :
         {ManifestKind::docker_list, ManifestKind::oci_index}) {
        std::string text = test::read_file(storage(manifest_path(k, e.hex(k))));
        EXPECT_EQ(text.size(), e.size(k));
        ManifestKind member = list_member_kind(k);
        std::string expected = image_list_json(
            k,
            {{Arch::amd64, e.hex(member), e.size(member)},
             {Arch::arm64, arm_entry->hex(member), arm_entry->size(member)}});
        EXPECT_EQ(text, expected);
        // The arm64 config says arm64.
        std::string m = test::read_file(
            storage(manifest_path(member, arm_entry->hex(member))));
        auto at = m.find("\"config\"");
        ASSERT_NE(at, std::string::npos);
        auto digest = m.find("sha256:", at);
        std::string config =
            test::read_file(storage(blob_path(m.substr(digest + 7, 64))));
        EXPECT_NE(config.find("\"architecture\":\"arm64\""), std::string::npos);
    }
}

TEST_F(Assemble, StoredPlatformImagesAreReused)
{
    ImageRequest arm = parse_image_request("arm64/app", "latest").request;
    IndexEntry arm_entry = assemble_image(*store, *lock, arm, closure, options);
    std::vector<PlatformBuild> builds{{Arch::amd64, &closure, {}},
                                      {Arch::arm64, nullptr, arm_entry}};
    IndexEntry reused =
        assemble_platforms(*store, *lock, request, builds, options);
    use_storage(dir / "storage-fresh");
    builds[1] = {Arch::arm64, &closure, {}};
    IndexEntry fresh =
        assemble_platforms(*store, *lock, request, builds, options);
    EXPECT_EQ(reused, fresh);
    // The first platform must be the request's.
    std::swap(builds[0], builds[1]);
    EXPECT_THROW(assemble_platforms(*store, *lock, request, builds, options),
                 std::invalid_argument);
}

TEST_F(Assemble, ThreadCountDoesNotChangeTheImage)
{
    options.threads = 1;
    IndexEntry one = assemble(closure);
    options.threads = 8;
    use_storage(dir / "storage-8");
    EXPECT_EQ(assemble(closure), one);
}

TEST_F(Assemble, BashFromAttributesAddsCmd)
{
    IndexEntry plain = assemble(closure);
    closure.attributes = {"bashInteractive"};
    IndexEntry bash = assemble(closure);
    EXPECT_NE(plain.docker_hex, bash.docker_hex);
    std::string m = test::read_file(
        storage(manifest_path(ManifestKind::docker, bash.docker_hex)));
    auto at = m.find("\"digest\":\"sha256:") + 17;
    std::string config = test::read_file(storage(blob_path(m.substr(at, 64))));
    EXPECT_NE(config.find("\"Cmd\":[\"bash\"]"), std::string::npos);
}

TEST_F(Assemble, RecordsLayersInTheCache)
{
    assemble(closure);
    auto layers =
        layer_closure(closure, nullptr, options.layer_budget, options.layering);
    ASSERT_FALSE(layers.empty());
    for (const Layer& l : layers) {
        auto cached = load_cached_layer(*store, layer_id(l.paths));
        ASSERT_TRUE(cached.has_value());
        EXPECT_GT(cached->size, 0u);
    }
}

// The build page's phases: every layer built, counted up to all of them,
// then publishing; a second assembly finds the store-path layers in the
// layer cache and builds only the symlink layer.
TEST_F(Assemble, ReportsLayersThenPublishing)
{
    std::mutex m;
    std::vector<std::string> seen;
    options.threads = 2;
    options.progress = [&](std::string_view phase, std::size_t layer,
                           std::size_t layers) {
        std::lock_guard lock(m);
        seen.push_back(std::string(phase) + " " + std::to_string(layer) + "/" +
                       std::to_string(layers));
    };
    assemble(closure);
    std::size_t n =
        layer_closure(closure, nullptr, options.layer_budget, options.layering)
            .size() +
        1;
    ASSERT_GE(seen.size(), 2u);
    EXPECT_EQ(seen.front(), "building 1/" + std::to_string(n));
    EXPECT_EQ(seen[seen.size() - 2],
              "building " + std::to_string(n) + "/" + std::to_string(n));
    EXPECT_EQ(seen.back(), "publishing 0/0");
    seen.clear();
    assemble(closure);
    EXPECT_EQ(seen,
              (std::vector<std::string>{"building 1/1", "publishing 0/0"}));
}

TEST_F(Assemble, FailureLeavesNoIndexEntry)
{
    closure.paths.push_back({"/nix/store/d-missing-1", 1, {}});
    closure.roots.push_back("/nix/store/d-missing-1");
    EXPECT_THROW(assemble(closure), std::exception);
    EXPECT_NE(::access(storage("index").c_str(), F_OK), 0);
    EXPECT_NE(::access(storage("manifests").c_str(), F_OK), 0);
}

TEST_F(Assemble, RefusesPathsOutsideTheStore)
{
    for (std::string bad : {"/etc/passwd", "/nix/store/../../etc",
                            "/nix/store/", "/nix/store/a/../../x"}) {
        Closure c = closure;
        c.paths.push_back({bad, 1, {}});
        EXPECT_THROW(assemble(c), std::runtime_error) << bad;
    }
    EXPECT_NE(::access(storage("blobs").c_str(), F_OK), 0);
}

// A lock whose hold is lost before the index entry: the collector may have
// run, so the image must not be published.
class LosingLock final : public CollectionLock {
  public:
    struct Hold final : LockHold {
        void check() const override { throw std::runtime_error("lease lost"); }
    };
    std::string describe() const override { return "losing"; }
    std::unique_ptr<LockHold> shared() override
    {
        ++shared_calls;
        return std::make_unique<Hold>();
    }
    std::unique_ptr<LockHold> exclusive(std::chrono::milliseconds) override
    {
        throw std::logic_error("assembly never takes it exclusively");
    }
    int shared_calls = 0;
};

TEST_F(Assemble, ALostLockPublishesNoIndexEntry)
{
    LosingLock losing;
    EXPECT_THROW(assemble_image(*store, losing, request, closure, options),
                 std::runtime_error);
    EXPECT_EQ(losing.shared_calls, 1);
    EXPECT_NE(::access(storage("index").c_str(), F_OK), 0);
    // With a lock that holds, the same request publishes.
    assemble(closure);
    EXPECT_EQ(
        ::access(storage(index_path(canonical_key(request))).c_str(), F_OK), 0);
}

} // namespace
} // namespace nixery
