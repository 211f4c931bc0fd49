#include "image/layering.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

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

// The layers of `ls` as path sets, for comparing two layerings.
std::set<std::vector<std::string>> layer_set(const std::vector<Layer>& ls)
{
    auto c = contents(ls);
    return {c.begin(), c.end()};
}

// How many layers of `after` are not layers of `before` (what a client
// that holds `before` downloads).
std::size_t new_layers(const std::vector<Layer>& before,
                       const std::vector<Layer>& after)
{
    auto had = layer_set(before);
    std::size_t n = 0;
    for (const auto& l : contents(after)) {
        n += had.count(l) == 0;
    }
    return n;
}

TEST(Layering, Names)
{
    EXPECT_EQ(parse_layering("stable"), Layering::stable);
    EXPECT_EQ(parse_layering("popularity"), Layering::popularity);
    EXPECT_EQ(parse_layering("Stable"), std::nullopt);
    EXPECT_EQ(parse_layering(""), std::nullopt);
    EXPECT_EQ(layering_name(Layering::stable), "stable");
    EXPECT_EQ(layering_name(Layering::popularity), "popularity");
    EXPECT_EQ(
        contents(layer_closure(diamond(), nullptr, 94, Layering::popularity)),
        contents(group_layers(diamond(), nullptr, 94)));
    EXPECT_EQ(contents(layer_closure(diamond(), nullptr, 94, Layering::stable)),
              contents(stable_layers(diamond(), nullptr, 94)));
}

TEST(StableLayers, OneLayerPerPathWithinTheBudget)
{
    auto ls = stable_layers(diamond(), nullptr, 5);
    // Ratings: popularity 1 x NAR size, highest first.
    EXPECT_EQ(contents(ls),
              (std::vector<std::vector<std::string>>{{"d-dep-1"},
                                                     {"c-lib-1"},
                                                     {"b-tool-1"},
                                                     {"a-app-1"},
                                                     {"e-extra-1"}}));
    EXPECT_EQ(ls[0].rating, 400u);
    EXPECT_EQ(ls[0].nar_size, 400u);
    Popularity pop{{"extra", 1000}};
    auto rated = stable_layers(diamond(), &pop, 94);
    EXPECT_EQ(contents(rated).front(), std::vector<std::string>{"e-extra-1"});
    EXPECT_EQ(rated.front().rating, 5000u);
    EXPECT_TRUE(stable_layers(Closure{}, nullptr, 94).empty());
}

// The point of the algorithm: an image with one more package has every
// layer of the smaller one. Nixery's algorithm moves c-lib and d-dep out
// of a's layer once a second package needs them (checked too, so that
// the test says what it is about).
TEST(StableLayers, AddingAPackageOnlyAddsLayers)
{
    Closure small;
    small.paths = {sp("a-app-1", 10, {"c-lib-1"}),
                   sp("c-lib-1", 300, {"d-dep-1"}), sp("d-dep-1", 400)};
    small.roots = {"/nix/store/a-app-1"};
    Closure big = small;
    big.paths.push_back(sp("b-tool-1", 20, {"c-lib-1", "f-new-1"}));
    big.paths.push_back(sp("f-new-1", 30));
    big.roots.push_back("/nix/store/b-tool-1");

    auto before = stable_layers(small, nullptr, 94);
    auto after = stable_layers(big, nullptr, 94);
    EXPECT_EQ(new_layers(before, after), 2u); // b-tool and f-new
    for (const auto& l : layer_set(before)) {
        EXPECT_EQ(layer_set(after).count(l), 1u) << l.front();
    }
    auto nixery_before = group_layers(small, nullptr, 94);
    auto nixery_after = group_layers(big, nullptr, 94);
    EXPECT_EQ(contents(nixery_before).size(), 1u); // a's subtree
    EXPECT_EQ(new_layers(nixery_before, nixery_after),
              contents(nixery_after).size());
}

// A closure of n paths, path i referring to a few earlier ones, sizes
// spread over four orders of magnitude.
Closure random_closure(std::size_t n, unsigned seed)
{
    std::mt19937 rng(seed);
    Closure c;
    for (std::size_t i = 0; i < n; ++i) {
        std::vector<std::string> refs;
        for (int k = 0; i > 0 && k < 3; ++k) {
            refs.push_back(std::to_string(1000 + rng() % i) + "-p-1");
        }
        c.paths.push_back(sp(std::to_string(1000 + i) + "-p-1",
                             std::uint64_t{1} << (rng() % 24), refs));
    }
    c.roots = {c.paths.back().path};
    return c;
}

TEST(StableLayers, OverTheBudget)
{
    Closure c = random_closure(300, 1);
    auto ls = stable_layers(c, nullptr, 94);
    ASSERT_EQ(ls.size(), 94u);
    std::vector<std::string> all;
    std::size_t singles = 0;
    for (const Layer& l : ls) {
        EXPECT_TRUE(std::is_sorted(l.paths.begin(), l.paths.end()));
        all.insert(all.end(), l.paths.begin(), l.paths.end());
        singles += l.paths.size() == 1;
    }
    std::sort(all.begin(), all.end());
    EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
    EXPECT_EQ(all.size(), 300u);
    EXPECT_GE(singles, 94u - 94u / 4);
    // The biggest path keeps a layer of its own.
    auto biggest =
        std::max_element(c.paths.begin(), c.paths.end(), [](auto& a, auto& b) {
            return a.nar_size < b.nar_size;
        });
    EXPECT_EQ(layer_set(ls).count({biggest->path.substr(11)}), 1u);
    // Budgets 0 and 1: one layer.
    for (std::size_t budget : {0u, 1u}) {
        auto one = stable_layers(c, nullptr, budget);
        ASSERT_EQ(one.size(), 1u);
        EXPECT_EQ(one[0].paths.size(), 300u);
    }
    EXPECT_LE(stable_layers(c, nullptr, 2).size(), 2u);
}

// Over the budget, a path more changes at most two layers: its own (or
// its bucket) and the bucket of a path it pushes out of a layer of its
// own.
TEST(StableLayers, OverTheBudgetAPathMoreChangesAtMostTwoLayers)
{
    for (unsigned seed = 0; seed < 20; ++seed) {
        Closure c = random_closure(200, seed);
        Closure more = c;
        more.paths.push_back(
            sp("9999-added-1", std::uint64_t{1} << (seed % 24)));
        auto before = stable_layers(c, nullptr, 94);
        auto after = stable_layers(more, nullptr, 94);
        EXPECT_LE(after.size(), 94u);
        EXPECT_LE(new_layers(before, after), 2u) << "seed " << seed;
    }
}

TEST(StableLayers, IndependentOfInputOrder)
{
    Closure c = random_closure(150, 7);
    auto want = contents(stable_layers(c, nullptr, 40));
    std::mt19937 rng(42);
    for (int i = 0; i < 10; ++i) {
        std::shuffle(c.paths.begin(), c.paths.end(), rng);
        c.paths.push_back(c.paths.front()); // a duplicate changes nothing
        ASSERT_EQ(contents(stable_layers(c, nullptr, 40)), want);
    }
}

} // namespace
} // namespace nixery
