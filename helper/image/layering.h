// Layering: which store paths go together into which image layer.
//
// Two algorithms, both total, deterministic functions of the closure, the
// popularity data and the budget (Nothing depends on cache state, iteration
// order of hash maps or the host: one closure gives one layering):
//
// - "stable" (the default): one layer per store path while the closure
//   fits the budget, so a path always makes the same layer whatever image
//   it is in, and adding a package to an image only adds layers; a client
//   that pulled the smaller image downloads the new paths and the symlink
//   layer, nothing it already has. Over the budget, the highest-rated
//   paths (popularity x NAR size) keep their own layers and the rest go
//   into a quarter of the budget of buckets chosen by a hash of the path,
//   so that a path added or removed changes one bucket, not all of them.
//
// - "popularity": Nixery's algorithm.
//   - a graph with a synthetic root, an edge root -> each requested output,
//     an edge root -> every path that is big (NAR size > 100 MB) or popular
//     (count >= 100), and an edge path -> reference for each reference;
//   - its dominator tree (Cooper, Harvey and Kennedy's iterative algorithm);
//   - one candidate layer per child of the root: its whole dominator
//     subtree, rated popularity(child) * Σ NAR size of the subtree (each
//     path counted once, unlike Nixery's double-counted closure sizes);
//   - while there are more candidates than the budget, the lowest-rated
//     ones are merged into one layer (ties broken by the layers' first
//     path).
//   Adding a package can move paths between subtrees (a path two packages
//   share becomes a layer of its own), so the layers of the smaller image
//   change and are downloaded again.
//
// See docs/images.md (with the re-pull benchmark, bench/repull.sh).
#pragma once

#include "base/closure.h"
#include "image/popularity.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

// NAR size above which a path gets its own root edge (decimal 100 MB).
inline constexpr std::uint64_t big_path_nar_size = 100'000'000;
// Popularity from which a path gets its own root edge.
inline constexpr std::uint64_t popular_path_count = 100;

struct Layer {
    std::vector<std::string> paths; // sorted, no duplicates
    std::uint64_t rating = 0;       // saturating sum when merged
    std::uint64_t nar_size = 0;     // Σ NAR size of `paths`
};

// Immediate dominators of a graph given as successor lists, from node 0.
// Result[v] is v's immediate dominator; result[0] = 0; unreachable nodes
// get -1. Exposed for tests on graphs with known dominator trees.
std::vector<long>
immediate_dominators(const std::vector<std::vector<std::size_t>>& successors);

// Nixery's (popularity) layering: a closure grouped into at most
// max(budget, 1) layers, ordered by rating descending, then by first path
// (the manifest order: popular, shared layers first). A budget of 0 is treated
// as 1: a non-empty closure needs at least one layer. References to paths
// outside the closure are ignored; paths unreachable from the roots get a root
// edge of their own.
std::vector<Layer> group_layers(const Closure& closure,
                                const Popularity* popularity,
                                std::size_t budget);

// The layering algorithms (see above).
enum class Layering { stable, popularity };

// "stable" / "popularity"; nullopt for anything else.
std::optional<Layering> parse_layering(std::string_view name) noexcept;
std::string_view layering_name(Layering layering) noexcept;

// The stable layering: at most max(budget, 1) layers, in the same order as
// group_layers() gives (rating descending, then first path).
std::vector<Layer> stable_layers(const Closure& closure,
                                 const Popularity* popularity,
                                 std::size_t budget);

// The chosen algorithm: stable_layers() or group_layers().
std::vector<Layer> layer_closure(const Closure& closure,
                                 const Popularity* popularity,
                                 std::size_t budget, Layering layering);

// The layer cache id: SHA-256 hex of a versioned, NUL-separated record of
// the sorted store-path set (the tar format version is part of it, so a
// change of format never reuses an old tarball).
std::string layer_id(const std::vector<std::string>& sorted_paths);

} // namespace nixery
