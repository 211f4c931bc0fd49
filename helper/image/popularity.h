// Popularity data for layering: how many store paths in a package set
// reference each package, as JSON {"name-version": count}.
//
// Layering (layering.h) gives popular paths their own layers so that images
// share them. The data is optional: an absent source means every path
// counts as 1. It is read once, from a file or an http(s) URL (fetched with
// the curl program, run with an argv list, never through a shell).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace nixery {

// Popularity: {"name-version": count}; absent entries count as 1.
using Popularity = std::map<std::string, std::uint64_t, std::less<>>;

// Parse {"name": count, ...}; throws std::runtime_error on malformed JSON,
// a non-object, or a count that is not a non-negative integer.
Popularity parse_popularity(std::string_view json);

// Load from a path or an http(s):// URL. Empty source: empty map.
// Throws std::runtime_error when the source cannot be read or parsed.
Popularity load_popularity(const std::string& source);

// "<name>" without its version: everything before the first '-' that is
// followed by a digit ("glibc-2.39-52" -> "glibc"); the name itself when it
// has no version.
std::string_view name_without_version(std::string_view name) noexcept;

// The popularity of a store path: the "name-version" entry, else the
// version-less name's entry, else 1. Nixery's forced values for
// nss-cacert and iana-etc (500000) apply whatever the data says.
std::uint64_t path_popularity(const Popularity* popularity,
                              std::string_view path);

} // namespace nixery
