#include "base/closure.h"
#include "image/popularity.h"

#include "temp_tree.h"

#include <gtest/gtest.h>

namespace nixery {
namespace {

TEST(Popularity, ParsesCounts)
{
    Popularity p = parse_popularity(R"({"glibc-2.37-8": 300000, "zlib": 7})");
    EXPECT_EQ(p.size(), 2u);
    EXPECT_EQ(p.at("glibc-2.37-8"), 300000u);
    EXPECT_EQ(p.at("zlib"), 7u);
}

TEST(Popularity, RejectsMalformedData)
{
    EXPECT_THROW(parse_popularity("[1,2]"), std::runtime_error);
    EXPECT_THROW(parse_popularity("{\"a\": -1}"), std::runtime_error);
    EXPECT_THROW(parse_popularity("{\"a\": \"1\"}"), std::runtime_error);
    EXPECT_THROW(parse_popularity("{"), std::runtime_error);
}

TEST(Popularity, LoadsFilesAndAbsenceIsEmpty)
{
    test::TempDir dir;
    test::write_file(dir / "pop.json", R"({"bash-5.2": 150})");
    EXPECT_EQ(load_popularity(dir / "pop.json").at("bash-5.2"), 150u);
    EXPECT_TRUE(load_popularity("").empty());
    EXPECT_THROW(load_popularity(dir / "missing.json"), std::runtime_error);
}

TEST(Popularity, NamesOfStorePaths)
{
    EXPECT_EQ(store_path_name("/nix/store/abc123-glibc-2.37-8"),
              "glibc-2.37-8");
    EXPECT_EQ(store_path_name("/nix/store/abc123-hello"), "hello");
    EXPECT_EQ(name_without_version("glibc-2.37-8"), "glibc");
    EXPECT_EQ(name_without_version("python3.11-requests-2.31.0"),
              "python3.11-requests");
    EXPECT_EQ(name_without_version("hello"), "hello");
    EXPECT_EQ(name_without_version("gcc-12-lib"), "gcc");
}

TEST(Popularity, LookupOrderAndForcedEntries)
{
    Popularity p{{"glibc-2.37-8", 5}, {"glibc", 9}, {"zlib", 3}};
    EXPECT_EQ(path_popularity(&p, "/nix/store/h-glibc-2.37-8"), 5u);
    EXPECT_EQ(path_popularity(&p, "/nix/store/h-glibc-2.38"), 9u);
    EXPECT_EQ(path_popularity(&p, "/nix/store/h-zlib-1.3"), 3u);
    EXPECT_EQ(path_popularity(&p, "/nix/store/h-unknown-1"), 1u);
    EXPECT_EQ(path_popularity(nullptr, "/nix/store/h-unknown-1"), 1u);
    EXPECT_EQ(path_popularity(nullptr, "/nix/store/h-nss-cacert-3.9"), 500000u);
    EXPECT_EQ(path_popularity(&p, "/nix/store/h-iana-etc-2023"), 500000u);
}

} // namespace
} // namespace nixery
