// The Nix builder against the fixture package set with real Nix: an image
// published, and each failure mapped to the queue's outcome.
#include "queue/nix_builder.h"

#include "storage_layout.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

using namespace nixery;
namespace fs = std::filesystem;

namespace {

const fs::path here = fs::path(__FILE__).parent_path();

struct NixBuilderTest : ::testing::Test {
    fs::path storage;
    std::unique_ptr<Storage> store;
    std::unique_ptr<CollectionLock> lock;
    queue::Builder build;

    void SetUp() override
    {
        ::setenv("NIX_CONFIG",
                 "sandbox = false\nbuild-users-group =\nsubstituters =\n", 0);
        storage = fs::temp_directory_path() /
                  ("nixery-builder-test-" + std::to_string(::getpid()));
        fs::create_directories(storage);
        NixBuilderOptions o;
        o.source = {PackageSource::Type::path, here / "fixtures/pkgs"};
        o.nix.nix_dir = (here / "../../nix").lexically_normal();
        o.nix.gc_roots_dir = storage / "roots";
        o.threads = 1;
        store = open_filesystem_storage(storage);
        lock = open_flock_lock(storage);
        build = make_nix_builder(std::move(o), *store, *lock);
    }
    void TearDown() override { fs::remove_all(storage); }

    ImageRequest request(const std::string& name)
    {
        ParseResult p = parse_image_request(name, "latest");
        EXPECT_EQ(p.error, NameError::none) << p.message;
        return p.request;
    }
};

} // namespace

TEST_F(NixBuilderTest, PublishesTheImage)
{
    // A parsed request always adds cacert and iana-etc, which the fixture
    // lacks: name the packages directly.
    ImageRequest r;
    r.name = "app";
    r.tag = "latest";
    r.packages = {"app", "hello"};
    auto out = build(r, {"1-0", 0, {}});
    EXPECT_EQ(out.status, queue::BuildOutcome::Status::ok) << out.detail;
    fs::path index = storage / index_path(canonical_key(r));
    ASSERT_TRUE(fs::exists(index)) << index;
    // The roots went with the resolution.
    EXPECT_TRUE(fs::is_empty(storage / "roots"));
}

TEST_F(NixBuilderTest, UnknownPackages)
{
    auto out = build(request("hello/nope"), {"1-0", 0, {}});
    EXPECT_EQ(out.status, queue::BuildOutcome::Status::not_found);
    // cacert and iana-etc are not in the fixture either: all are listed.
    EXPECT_EQ(out.unknown,
              (std::vector<std::string>{"cacert", "iana-etc", "nope"}));
}

TEST_F(NixBuilderTest, FailuresNameThePackage)
{
    ImageRequest r;
    r.name = "broken";
    r.tag = "latest";
    r.packages = {"broken", "hello"};
    auto out = build(r, {"1-0", 0, {}});
    EXPECT_EQ(out.status, queue::BuildOutcome::Status::failed);
    // A package the set cannot provide: the client's error, 404, with the
    // reason in the message (clients print only that).
    EXPECT_EQ(out.code, ErrorCode::manifest_unknown);
    EXPECT_TRUE(out.message.starts_with("Nix could not evaluate 'broken': "))
        << out.message;
    EXPECT_NE(out.message.find("marked as broken"), std::string::npos);
    EXPECT_NE(out.detail.find("marked as broken"), std::string::npos);

    r.packages = {"failing"};
    out = build(r, {"1-0", 0, {}});
    EXPECT_EQ(out.status, queue::BuildOutcome::Status::failed);
    EXPECT_EQ(out.code, ErrorCode::unknown) << "a build failure is ours: 500";
    EXPECT_EQ(out.message, "Nix could not build 'failing'");
    EXPECT_NE(out.detail.find("the build broke on purpose"), std::string::npos);
}
