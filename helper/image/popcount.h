// Popularity of store paths, as Nixery's popcount computes it, but from a
// package set's own closures rather
// than from a binary cache: for every path in the union of the closures of
// all the set's packages, each path it references (itself included) gets
// one count. Keys are store path names without the hash ("glibc-2.36",
// popularity.h's store_path_name, which reads the result).
// Names referenced once are left out; readers count a missing name as 1.
// The layering reads the result (assemble.h's Popularity). See
// docs/package-set.md.
#pragma once

#include "base/closure.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

std::map<std::string, std::uint64_t>
popularity_counts(const std::vector<StorePath>& paths);

// {"name": count, ...}, keys sorted, one per line.
std::string popularity_json(const std::map<std::string, std::uint64_t>& c);

} // namespace nixery
