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

TEST(Routes, TagsList)
{
    Route r = parse_route("/v2/shell/git/tags/list");
    EXPECT_EQ(r.kind, RouteKind::tags_list);
    EXPECT_EQ(r.name, "shell/git");
    EXPECT_EQ(parse_route("/v2/Shell/tags/list").kind, RouteKind::invalid);
    EXPECT_EQ(parse_route("/v2/Shell/tags/list").error,
              ErrorCode::name_invalid);
}

TEST(Routes, Unknown)
{
    for (std::string_view p :
         {"/v2/_catalog", "/v2/hello/tags/lists", "/v2/hello/tags/x",
          "/v2/hello", "/v2/manifests/latest", "/v2/hello/manifests/latest/",
          "/v2/hello/blobs/uploads/", "/v2/hello/referrers/sha256:abc/x",
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

// A reference that is neither a digest nor a tag names no manifest: 404
// MANIFEST_UNKNOWN with the reason, as CNCF distribution answers.
TEST(Routes, ReferenceThatIsNoTag)
{
    for (const std::string& p : std::vector<std::string>{
             "/v2/hello/manifests/", "/v2/hello/manifests/.hidden",
             "/v2/hello/manifests/-x", "/v2/hello/manifests/%2e%2e",
             "/v2/hello/manifests/..", "/v2/hello/manifests/a b",
             "/v2/hello/manifests/" + std::string(129, 'a'),
             "/v2/hello/manifests/" + std::string(65536, 't')}) {
        Route r = parse_route(p);
        EXPECT_EQ(r.kind, RouteKind::absent) << p.substr(0, 40);
        EXPECT_EQ(r.error, ErrorCode::manifest_unknown) << p.substr(0, 40);
        EXPECT_NE(r.detail.find("neither a digest nor a tag"),
                  std::string::npos);
    }
    EXPECT_NE(parse_route("/v2/hello/manifests/" + std::string(129, 'a'))
                  .detail.find("at most 128 bytes"),
              std::string::npos);
    EXPECT_EQ(parse_route("/v2/hello/manifests/" + std::string(128, 'a')).kind,
              RouteKind::manifest_by_tag);
    EXPECT_EQ(parse_route("/v2/hello/manifests/_x").kind,
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
             "/v2/hello/blobs/sha512:" + std::string(127, 'a'),
             "/v2/hello/manifests/sha512:" + hex,
             "/v2/hello/referrers/sha256:" + std::string(63, 'a'),
             "/v2/hello/referrers/latest", "/v2/hello/referrers/",
             "/v2/hello/manifests/md5:d41d8cd98f00b204e9800998ecf8427e"}) {
        Route r = parse_route(p);
        EXPECT_EQ(r.kind, RouteKind::invalid) << p.substr(0, 60);
        EXPECT_EQ(r.error, ErrorCode::digest_invalid) << p.substr(0, 60);
    }
    EXPECT_NE(
        parse_route("/v2/hello/blobs/md5:d41d8cd98f00b204e9800998ecf8427e")
            .detail.find("unsupported"),
        std::string::npos);
}

// sha512 is a registered algorithm: a well-formed digest is valid, and
// names nothing this registry stores.
TEST(Routes, Sha512IsUnknownNotInvalid)
{
    std::string sha512 = "sha512:" + std::string(128, 'a');
    Route r = parse_route("/v2/hello/blobs/" + sha512);
    EXPECT_EQ(r.kind, RouteKind::absent);
    EXPECT_EQ(r.error, ErrorCode::blob_unknown);
    r = parse_route("/v2/hello/manifests/" + sha512);
    EXPECT_EQ(r.kind, RouteKind::absent);
    EXPECT_EQ(r.error, ErrorCode::manifest_unknown);
    EXPECT_NE(r.detail.find("sha512"), std::string::npos);
}

TEST(Routes, Referrers)
{
    std::string path = "/v2/shell/git/referrers/sha256:" + hex;
    Route r = parse_route(path);
    EXPECT_EQ(r.kind, RouteKind::referrers);
    EXPECT_EQ(r.name, "shell/git");
    EXPECT_EQ(r.reference, "sha256:" + hex);
    EXPECT_EQ(
        parse_route("/v2/a/referrers/sha512:" + std::string(128, '0')).kind,
        RouteKind::referrers);
    EXPECT_EQ(parse_route("/v2/A/referrers/sha256:" + hex).error,
              ErrorCode::name_invalid);
    EXPECT_EQ(
        referrers_json(),
        "{\"schemaVersion\":2,\"mediaType\":"
        "\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}\n");
}

TEST(Routes, QueryHasParam)
{
    EXPECT_TRUE(query_has_param("artifactType=a%2Fb", "artifactType"));
    EXPECT_TRUE(query_has_param("n=1&artifactType", "artifactType"));
    EXPECT_TRUE(query_has_param("n=1&artifactType=&x=2", "artifactType"));
    EXPECT_FALSE(query_has_param("", "artifactType"));
    EXPECT_FALSE(query_has_param("artifacttype=x", "artifactType"));
    EXPECT_FALSE(query_has_param("xartifactType=x", "artifactType"));
    EXPECT_FALSE(query_has_param("a=artifactType", "artifactType"));
}

TEST(Routes, TagPolicy)
{
    EXPECT_TRUE(tag_may_exist(TagPolicy::latest, "latest"));
    EXPECT_FALSE(tag_may_exist(TagPolicy::latest, "missing-y22acperpkp"));
    EXPECT_FALSE(tag_may_exist(TagPolicy::latest, "LATEST"));
    EXPECT_TRUE(tag_may_exist(TagPolicy::git, "latest"));
    EXPECT_TRUE(tag_may_exist(TagPolicy::git, "feature"));
    std::string d = unserved_tag_detail(TagPolicy::latest, "v2");
    EXPECT_NE(d.find("'v2'"), std::string::npos);
    EXPECT_NE(d.find("'latest' only"), std::string::npos);
    d = unserved_tag_detail(TagPolicy::git, "nope");
    EXPECT_NE(d.find("'nope'"), std::string::npos);
    EXPECT_NE(d.find("branches"), std::string::npos);
}

TEST(Routes, NameCheckedBeforeReference)
{
    Route r = parse_route("/v2/BAD/manifests/.bad");
    EXPECT_EQ(r.error, ErrorCode::name_invalid);
    r = parse_route("/v2/BAD/referrers/bad");
    EXPECT_EQ(r.error, ErrorCode::name_invalid);
}

} // namespace
} // namespace nixery
