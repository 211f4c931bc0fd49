#include "image_request.h"

#include <gtest/gtest.h>

#include <set>

namespace nixery {
namespace {

using Pkgs = std::vector<std::string>;

ImageRequest parse_ok(std::string_view name, std::string_view tag = "latest")
{
    ParseResult r = parse_image_request(name, tag);
    EXPECT_EQ(r.error, NameError::none) << name << ": " << r.message;
    return r.request;
}

// Nixery's own test vectors (builder_test.go), plus de-duplication.
TEST(ImageRequest, NixeryVectors)
{
    EXPECT_EQ(parse_ok("hello").packages,
              (Pkgs{"cacert", "hello", "iana-etc"}));
    EXPECT_EQ(parse_ok("hello/git/htop").packages,
              (Pkgs{"cacert", "git", "hello", "htop", "iana-etc"}));
    EXPECT_EQ(parse_ok("shell").packages,
              (Pkgs{"bashInteractive", "cacert", "coreutils", "iana-etc",
                    "moreutils", "nano"}));
    EXPECT_EQ(parse_ok("shell/htop").packages,
              (Pkgs{"bashInteractive", "cacert", "coreutils", "htop",
                    "iana-etc", "moreutils", "nano"}));
    ImageRequest arm = parse_ok("shell/arm64");
    EXPECT_EQ(arm.arch, Arch::arm64);
    EXPECT_TRUE(arm.shell);
    EXPECT_EQ(arm.packages, parse_ok("shell").packages);
}

TEST(ImageRequest, MetaPackagesOnlyLeadingAnyOrder)
{
    EXPECT_EQ(parse_ok("arm64/shell/git"), [] {
        ImageRequest r = parse_ok("shell/arm64/git");
        r.name = "arm64/shell/git";
        return r;
    }());
    // Later on they are ordinary package names.
    ImageRequest r = parse_ok("git/shell/arm64");
    EXPECT_EQ(r.arch, Arch::amd64);
    EXPECT_FALSE(r.shell);
    EXPECT_EQ(r.packages,
              (Pkgs{"arm64", "cacert", "git", "iana-etc", "shell"}));
}

TEST(ImageRequest, DuplicatesRemovedAndSorted)
{
    EXPECT_EQ(parse_ok("shell/coreutils/git/git/cacert").packages,
              (Pkgs{"bashInteractive", "cacert", "coreutils", "git", "iana-etc",
                    "moreutils", "nano"}));
}

TEST(ImageRequest, NestedAndDigitLeading)
{
    EXPECT_EQ(
        parse_ok("python3packages.requests/1password").packages,
        (Pkgs{"_1password", "cacert", "iana-etc", "python3packages.requests"}));
    EXPECT_EQ(parse_ok("foo.2bar").packages,
              (Pkgs{"cacert", "foo._2bar", "iana-etc"}));
}

TEST(ImageRequest, InvalidNames)
{
    for (std::string_view bad :
         {"",      "/",        "a/",  "/a",   "a//b",        "A",   "Hello",
          "..",    "a/../b",   ".a",  "a.",   "a..b",        "-a",  "a-",
          "a___b", "a/%2e%2e", "a b", "a\nb", "caf\xc3\xa9", "a:b", "a@b"}) {
        ParseResult r = parse_image_request(bad, "latest");
        EXPECT_EQ(r.error, NameError::name_invalid) << "'" << bad << "'";
        EXPECT_FALSE(r.message.empty());
    }
    EXPECT_EQ(
        parse_image_request(std::string(max_name_length + 1, 'a'), "latest")
            .error,
        NameError::name_invalid);
    EXPECT_EQ(
        parse_image_request(std::string(max_name_length, 'a'), "latest").error,
        NameError::none);
}

TEST(ImageRequest, ValidComponentSeparators)
{
    for (std::string_view good :
         {"a", "a.b", "a_b", "a__b", "a-b", "a---b", "iana-etc", "a0/b1"}) {
        EXPECT_TRUE(valid_name(good)) << good;
    }
}

TEST(ImageRequest, TooManyPackages)
{
    std::string name;
    for (std::size_t i = 0; i < max_packages; ++i) {
        name += (i ? "/p" : "p") + std::to_string(i);
    }
    EXPECT_EQ(parse_image_request(name, "latest").error,
              NameError::name_invalid);
}

TEST(ImageRequest, Tags)
{
    for (std::string_view good : {"latest", "v1.0", "A_b-c.d", "_x",
                                  "0123456789abcdef0123456789abcdef01234567"}) {
        EXPECT_TRUE(valid_tag(good)) << good;
    }
    for (std::string_view bad :
         {"", ".a", "-a", "a:b", "a/b", "a b", "sha256:00"}) {
        EXPECT_FALSE(valid_tag(bad)) << bad;
    }
    EXPECT_TRUE(valid_tag(std::string(128, 'a')));
    EXPECT_FALSE(valid_tag(std::string(129, 'a')));
    EXPECT_EQ(parse_image_request("hello", "a:b").error,
              NameError::tag_invalid);
}

TEST(CanonicalKey, StableAndUnambiguous)
{
    ImageRequest a = parse_ok("hello/git");
    ImageRequest b = parse_ok("git/hello");
    EXPECT_EQ(canonical_key(a), canonical_key(b));
    EXPECT_EQ(canonical_key(a).size(), 64u);
    // Fixed vector: the key must never change silently, or every cached
    // image is rebuilt (and module/helper would disagree across versions).
    EXPECT_EQ(canonical_encoding(parse_ok("hello")),
              std::string("nixery-request-v1\0arch=amd64\0tag=latest\0"
                          "pkg=cacert\0pkg=hello\0pkg=iana-etc\0",
                          74));
    // Computed independently: python3 hashlib.sha256 of the encoding.
    EXPECT_EQ(
        canonical_key(parse_ok("hello")),
        "304ffe6da21fd08c9ffbbe9f2e8dc22f4bc1bf83f9350ce7fbc3ac378c58f500");

    // Nixery's key concatenates names: ["ab","c"] == ["a","bc"]. Not here.
    EXPECT_NE(canonical_key(parse_ok("ab/c")), canonical_key(parse_ok("a/bc")));
    // The architecture and the tag are part of the key.
    EXPECT_NE(canonical_key(parse_ok("hello")),
              canonical_key(parse_ok("arm64/hello")));
    EXPECT_NE(canonical_key(parse_ok("hello", "latest")),
              canonical_key(parse_ok("hello", "v1")));

    std::set<std::string> keys;
    for (auto n : {"a", "b", "a/b", "ab", "shell", "shell/a", "arm64/a"}) {
        keys.insert(canonical_key(parse_ok(n)));
    }
    EXPECT_EQ(keys.size(), 7u);
}

TEST(CanonicalKey, PackagesJson)
{
    EXPECT_EQ(packages_json(parse_ok("hello")),
              R"(["cacert","hello","iana-etc"])");
}

} // namespace
} // namespace nixery
