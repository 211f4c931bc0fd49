// Popularity from a closure graph.
#include "image/popcount.h"

#include <gtest/gtest.h>

using namespace nixery;

namespace {
std::string p(const char* name)
{
    return std::string("/nix/store/") + std::string(32, 'a') + "-" + name;
}
} // namespace

TEST(Popcount, CountsReferencesAndDropsSingles)
{
    // glibc: referenced by itself, ncurses and bash (3); ncurses by bash
    // and git (2); bash only by git (1, dropped); git by nobody.
    std::vector<StorePath> paths{
        {p("glibc-2.36"), 10, {p("glibc-2.36")}},
        {p("ncurses-6.4"), 10, {p("glibc-2.36")}},
        {p("bash-5.2"), 10, {p("glibc-2.36"), p("ncurses-6.4")}},
        {p("git-2.39"), 10, {p("bash-5.2"), p("ncurses-6.4")}},
    };
    auto counts = popularity_counts(paths);
    EXPECT_EQ(counts, (std::map<std::string, std::uint64_t>{
                          {"glibc-2.36", 3}, {"ncurses-6.4", 2}}));
    EXPECT_EQ(popularity_json(counts),
              "{\n  \"glibc-2.36\": 3,\n  \"ncurses-6.4\": 2\n}\n");
    EXPECT_EQ(popularity_json({}), "{}\n");
}
