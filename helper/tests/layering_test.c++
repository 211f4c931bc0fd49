#include "image/layering.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace nixery {
namespace {

using Succ = std::vector<std::vector<std::size_t>>;

TEST(Dominators, KnownTreeWithLoopAndJoin)
{
    // 0 -> 1, 2; 1 -> 3, 6; 2 -> 3; 3 -> 4; 4 -> 5; 5 -> 4 (loop), 5 -> 6
    // 7 is unreachable.
    Succ g = {{1, 2}, {3, 6}, {3}, {4}, {5}, {4, 6}, {}, {1}};
    std::vector<long> idom = immediate_dominators(g);
    std::vector<long> want = {0, 0, 0, 0, 3, 4, 0, -1};
    EXPECT_EQ(idom, want);
}

TEST(Dominators, ClassicIrreducibleGraph)
{
    // Cooper-Harvey-Kennedy's figure: 5 -> 4, 3; 4 -> 1; 3 -> 2; 2 -> 1;
    // 1 -> 2 (renumbered with 5 as node 0).
    Succ g = {{1, 2}, {3}, {4}, {4}, {3}};
    std::vector<long> idom = immediate_dominators(g);
    std::vector<long> want = {0, 0, 0, 0, 0};
    EXPECT_EQ(idom, want);
}

TEST(Dominators, Chain)
{
    Succ g = {{1}, {2}, {3}, {}};
    EXPECT_EQ(immediate_dominators(g), (std::vector<long>{0, 0, 1, 2}));
}

StorePath sp(std::string name, std::uint64_t nar,
             std::vector<std::string> refs = {})
{
    StorePath p;
    p.path = "/nix/store/" + name;
    p.nar_size = nar;
    for (auto& r : refs) {
        p.references.push_back("/nix/store/" + r);
    }
    return p;
}

// a -> c, e; b -> c; c -> d. Roots a and b.
// Dominator tree: root -> a -> e; root -> b; root -> c -> d.
Closure diamond()
{
    Closure c;
    c.paths = {sp("a-app-1", 10, {"c-lib-1", "e-extra-1", "a-app-1"}),
               sp("b-tool-1", 20, {"c-lib-1"}), sp("c-lib-1", 300, {"d-dep-1"}),
               sp("d-dep-1", 400), sp("e-extra-1", 5)};
    c.roots = {"/nix/store/a-app-1", "/nix/store/b-tool-1"};
    return c;
}

std::vector<std::vector<std::string>> contents(const std::vector<Layer>& ls)
{
    std::vector<std::vector<std::string>> out;
    for (const Layer& l : ls) {
        std::vector<std::string> names;
        for (const std::string& p : l.paths) {
            names.push_back(p.substr(11));
        }
        out.push_back(names);
    }
    return out;
}

TEST(GroupLayers, OneLayerPerRootDominatedSubtree)
{
    std::vector<Layer> ls = group_layers(diamond(), nullptr, 94);
    // Ratings: popularity 1 x NAR sizes: c+d 700, a+e 15, b 20.
    EXPECT_EQ(
        contents(ls),
        (std::vector<std::vector<std::string>>{
            {"c-lib-1", "d-dep-1"}, {"b-tool-1"}, {"a-app-1", "e-extra-1"}}));
    EXPECT_EQ(ls[0].rating, 700u);
    EXPECT_EQ(ls[0].nar_size, 700u);
    EXPECT_EQ(ls[2].rating, 15u);
}

TEST(GroupLayers, BudgetEdgeCases)
{
    Closure c = diamond();
    // Exactly the budget: nothing merged.
    EXPECT_EQ(group_layers(c, nullptr, 3).size(), 3u);
    // One over: the two lowest-rated groups share a layer.
    auto two = group_layers(c, nullptr, 2);
    EXPECT_EQ(contents(two), (std::vector<std::vector<std::string>>{
                                 {"c-lib-1", "d-dep-1"},
                                 {"a-app-1", "b-tool-1", "e-extra-1"}}));
    EXPECT_EQ(two[1].rating, 35u);
    // One layer, and 0 treated as 1.
    for (std::size_t budget : {0u, 1u}) {
        auto one = group_layers(c, nullptr, budget);
        ASSERT_EQ(one.size(), 1u);
        EXPECT_EQ(one[0].paths.size(), 5u);
        EXPECT_TRUE(std::is_sorted(one[0].paths.begin(), one[0].paths.end()));
        EXPECT_EQ(one[0].nar_size, 735u);
    }
    EXPECT_TRUE(group_layers(Closure{}, nullptr, 0).empty());
}

TEST(GroupLayers, PopularAndBigPathsGetTheirOwnLayers)
{
    Closure c = diamond();
    c.paths.push_back(sp("f-big-1", 100'000'001));
    c.paths.push_back(sp("g-glibc-2.37", 50));
    c.paths[0].references.push_back("/nix/store/f-big-1");
    c.paths[1].references.push_back("/nix/store/g-glibc-2.37");
    // Without data, f is big enough and g is folded under b.
    auto plain = contents(group_layers(c, nullptr, 94));
    EXPECT_EQ(plain.front(), std::vector<std::string>{"f-big-1"});
    EXPECT_NE(std::find(plain.begin(), plain.end(),
                        std::vector<std::string>{"b-tool-1", "g-glibc-2.37"}),
              plain.end());
    // Version-less popularity >= 100 gives g a root edge and its layer.
    Popularity pop{{"glibc", 100}};
    auto popular = contents(group_layers(c, &pop, 94));
    EXPECT_NE(std::find(popular.begin(), popular.end(),
                        std::vector<std::string>{"g-glibc-2.37"}),
              popular.end());
    EXPECT_NE(std::find(popular.begin(), popular.end(),
                        std::vector<std::string>{"b-tool-1"}),
              popular.end());
}

TEST(GroupLayers, TiesAreBrokenByPath)
{
    Closure c;
    c.paths = {sp("q-q-1", 10), sp("p-p-1", 10), sp("r-r-1", 10),
               sp("s-s-1", 10)};
    c.roots = {"/nix/store/p-p-1", "/nix/store/q-q-1", "/nix/store/r-r-1",
               "/nix/store/s-s-1"};
    auto all = contents(group_layers(c, nullptr, 94));
    EXPECT_EQ(all, (std::vector<std::vector<std::string>>{
                       {"p-p-1"}, {"q-q-1"}, {"r-r-1"}, {"s-s-1"}}));
    // Equal ratings: the groups first in path order are merged first.
    auto merged = contents(group_layers(c, nullptr, 3));
    EXPECT_EQ(merged, (std::vector<std::vector<std::string>>{
                          {"p-p-1", "q-q-1"}, {"r-r-1"}, {"s-s-1"}}));
    // Popularity ties with different counts for the same rating.
    Popularity pop{{"s-1", 2}};
    auto rated = contents(group_layers(c, &pop, 94));
    EXPECT_EQ(rated.front(), std::vector<std::string>{"s-s-1"});
}

TEST(GroupLayers, UnreachablePathsAndForeignReferences)
{
    Closure c = diamond();
    c.paths.push_back(sp("z-orphan-1", 1, {"not-in-closure"}));
    auto ls = contents(group_layers(c, nullptr, 94));
    EXPECT_EQ(ls.back(), std::vector<std::string>{"z-orphan-1"});
    std::size_t total = 0;
    for (auto& l : ls) {
        total += l.size();
    }
    EXPECT_EQ(total, 6u);
}

TEST(GroupLayers, CacertIsForcedPopular)
{
    Closure c = diamond();
    c.paths.push_back(sp("h-nss-cacert-3.9", 1));
    c.paths[1].references.push_back("/nix/store/h-nss-cacert-3.9");
    auto ls = group_layers(c, nullptr, 94);
    EXPECT_EQ(contents(ls).front(),
              std::vector<std::string>{"h-nss-cacert-3.9"});
    EXPECT_EQ(ls.front().rating, 500000u);
}

TEST(GroupLayers, IndependentOfInputOrder)
{
    Closure c = diamond();
    c.paths.push_back(sp("f-f-1", 7, {"d-dep-1"}));
    c.roots.push_back("/nix/store/f-f-1");
    auto want = group_layers(c, nullptr, 2);
    std::mt19937 rng(42);
    for (int i = 0; i < 20; ++i) {
        std::shuffle(c.paths.begin(), c.paths.end(), rng);
        std::shuffle(c.roots.begin(), c.roots.end(), rng);
        for (auto& p : c.paths) {
            std::shuffle(p.references.begin(), p.references.end(), rng);
        }
        auto got = group_layers(c, nullptr, 2);
        ASSERT_EQ(contents(got), contents(want));
    }
}

TEST(LayerId, DependsOnTheSetOnly)
{
    std::vector<std::string> a = {"/nix/store/aaa-foo", "/nix/store/bbb-bar"};
    std::vector<std::string> b = {"/nix/store/aaa-foo"};
    std::vector<std::string> c = {"/nix/store/aaa-foo/nix/store/bbb-bar"};
    EXPECT_EQ(layer_id(a), layer_id(a));
    EXPECT_EQ(layer_id(a).size(), 64u);
    EXPECT_NE(layer_id(a), layer_id(b));
    EXPECT_NE(layer_id(a), layer_id(c)); // separators matter
}

} // namespace
} // namespace nixery
