// The closure graph of an image: what Nix resolved and realised, as data.
//
// This is the contract between the Nix side (resolve.h, which produces it
// from Nix's own store queries) and image assembly (assemble.h, which turns
// it into layers). Tests build closures by hand over store trees they
// create, so assembly never needs Nix.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

struct StorePath {
    std::string path; // "/nix/store/<hash>-<name>"
    std::uint64_t nar_size = 0;
    // Store paths this one references (may include itself).
    std::vector<std::string> references;
};

struct Closure {
    // Every path of the runtime closure, sorted by path, no duplicates.
    std::vector<StorePath> paths;
    // The requested top-level outputs (one per found package), sorted: the
    // roots of the graph and the contents of the symlink layer.
    std::vector<std::string> roots;
    // The resolved attribute paths of the roots' packages (e.g.
    // "bashInteractive"), for the image config (Cmd) and for logs.
    std::vector<std::string> attributes;
};

// "/nix/store/<hash>-<name>" -> "<name>" (the popularity key, the name in
// layer history and in the symlink layer's warnings).
std::string_view store_path_name(std::string_view path) noexcept;

} // namespace nixery
