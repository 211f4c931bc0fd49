#include "routes.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nixery {
namespace {

const std::string hex(64, 'a');

TEST(Routes, Base)
{
    EXPECT_EQ(parse_route("/v2/").kind, RouteKind::base);
    EXPECT_EQ(parse_route("/v2").kind, RouteKind::unknown);
    EXPECT_EQ(parse_route("/").kind, RouteKind::unknown);
    EXPECT_EQ(parse_route("").kind, RouteKind::unknown);
    EXPECT_EQ(parse_route("/v3/").kind, RouteKind::unknown);
    EXPECT_EQ(parse_route("/V2/").kind, RouteKind::unknown);
}

TEST(Routes, ManifestByTag)
{
    Route r = parse_route("/v2/shell/git/manifests/latest");
    EXPECT_EQ(r.kind, RouteKind::manifest_by_tag);
    EXPECT_EQ(r.name, "shell/git");
    EXPECT_EQ(r.reference, "latest");

    // Greedy name, as in the spec's grammar.
    r = parse_route("/v2/a/manifests/b/manifests/v1.0");
    EXPECT_EQ(r.kind, RouteKind::manifest_by_tag);
    EXPECT_EQ(r.name, "a/manifests/b");
    EXPECT_EQ(r.reference, "v1.0");
}

TEST(Routes, ByDigest)
{
    // Route holds views into the path: keep the paths alive.
    std::string manifest = "/v2/hello/manifests/sha256:" + hex;
    Route r = parse_route(manifest);
    EXPECT_EQ(r.kind, RouteKind::manifest_by_digest);
    EXPECT_EQ(r.name, "hello");
    EXPECT_EQ(r.reference, hex);

    std::string blob = "/v2/any/name/blobs/sha256:" + hex;
    r = parse_route(blob);
    EXPECT_EQ(r.kind, RouteKind::blob);
    EXPECT_EQ(r.name, "any/name");
    EXPECT_EQ(r.reference, hex);
}

TEST(Routes, Unknown)
{
    for (std::string_view p :
         {"/v2/_catalog", "/v2/hello/tags/list", "/v2/hello",
          "/v2/manifests/latest", "/v2/hello/manifests/latest/",
          "/v2/hello/blobs/uploads/", "/v2/hello/referrers/x",
          "/v3/hello/manifests/latest", "/v2/hello/Manifests/latest",
          // A digest cannot hold a '/', so this is not a blob route at all.
          "/v2/hello/blobs/sha256:../../etc/passwd"}) {
        Route r = parse_route(p);
        EXPECT_EQ(r.kind, RouteKind::unknown) << p;
        EXPECT_TRUE(r.name.empty()) << p;
    }
}

TEST(Routes, InvalidName)
{
    for (const std::string& p : std::vector<std::string>{
             "/v2//manifests/latest", "/v2/Hello/manifests/latest",
             "/v2/../manifests/latest", "/v2/a/../b/manifests/latest",
             "/v2/a//b/manifests/latest", "/v2/%2e%2e/manifests/latest",
             "/v2/a%2fb/blobs/sha256:" + hex,
             "/v2/caf\xc3\xa9/manifests/latest",
             std::string("/v2/a\0b/manifests/latest", 25),
             "/v2/" + std::string(65536, 'a') + "/manifests/latest"}) {
        Route r = parse_route(p);
        EXPECT_EQ(r.kind, RouteKind::invalid) << p.substr(0, 40);
        EXPECT_EQ(r.error, ErrorCode::name_invalid) << p.substr(0, 40);
        EXPECT_FALSE(r.detail.empty());
    }
    EXPECT_NE(
        parse_route("/v2/" + std::string(65536, 'a') + "/manifests/latest")
            .detail.find("longer than"),
        std::string::npos);
}

TEST(Routes, InvalidTag)
{
    for (const std::string& p : std::vector<std::string>{
             "/v2/hello/manifests/", "/v2/hello/manifests/.hidden",
             "/v2/hello/manifests/-x", "/v2/hello/manifests/%2e%2e",
             "/v2/hello/manifests/..", "/v2/hello/manifests/a b",
             "/v2/hello/manifests/" + std::string(129, 'a'),
             "/v2/hello/manifests/" + std::string(65536, 't')}) {
        Route r = parse_route(p);
        EXPECT_EQ(r.kind, RouteKind::invalid) << p.substr(0, 40);
        EXPECT_EQ(r.error, ErrorCode::tag_invalid) << p.substr(0, 40);
    }
    EXPECT_EQ(parse_route("/v2/hello/manifests/" + std::string(128, 'a')).kind,
              RouteKind::manifest_by_tag);
}

TEST(Routes, InvalidDigest)
{
    for (const std::string& p : std::vector<std::string>{
             "/v2/hello/blobs/", "/v2/hello/blobs/latest",
             "/v2/hello/blobs/sha256:", "/v2/hello/blobs/sha256:abc",
             "/v2/hello/blobs/sha256:" + std::string(64, 'A'),
             "/v2/hello/blobs/sha256:" + std::string(65, 'a'),
             "/v2/hello/blobs/sha256:" + std::string(63, 'a') + "g",
             "/v2/hello/manifests/sha256:" + std::string(100000, 'f'),
             "/v2/hello/manifests/:" + hex, "/v2/hello/manifests/SHA256:" + hex,
             "/v2/hello/blobs/sha512:" + std::string(128, 'a'),
             "/v2/hello/manifests/md5:d41d8cd98f00b204e9800998ecf8427e"}) {
        Route r = parse_route(p);
        EXPECT_EQ(r.kind, RouteKind::invalid) << p.substr(0, 60);
        EXPECT_EQ(r.error, ErrorCode::digest_invalid) << p.substr(0, 60);
    }
    EXPECT_NE(parse_route("/v2/hello/blobs/sha512:" + std::string(128, 'a'))
                  .detail.find("unsupported"),
              std::string::npos);
}

TEST(Routes, NameCheckedBeforeReference)
{
    Route r = parse_route("/v2/BAD/manifests/.bad");
    EXPECT_EQ(r.error, ErrorCode::name_invalid);
}

} // namespace
} // namespace nixery
