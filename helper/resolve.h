// Resolving an image request against a package set with Nix.
//
// Runs the expressions in nix/ (names passed only as JSON data through
// --argstr, never as code, never through a shell), realises the found
// outputs, and takes the closure graph from Nix's store queries. See
// docs/nix.md.
#pragma once

#include "closure.h"
#include "image_request.h"

#include <chrono>
#include <string>
#include <vector>

namespace nixery {

// Where packages come from (nixery-behaviour.md §3), with Nixery's
// environment variables NIXERY_CHANNEL > NIXERY_PKGS_REPO > NIXERY_PKGS_PATH.
struct PackageSource {
    enum class Type { channel, git, path };
    Type type = Type::path;
    std::string value; // channel ref, repository URL, or local path

    // True when the image for `tag` is pinned (40-hex commit), so its
    // manifest may be cached forever.
    bool pinned(const std::string& tag) const;
};

struct NixOptions {
    std::string nix_dir;               // the project's nix/ expressions
    std::chrono::seconds timeout{600}; // whole Nix call; group killed after
    std::string gc_roots_dir;          // where to hold GC roots while packing
};

struct ResolveResult {
    enum class Status { ok, not_found, eval_failed, build_failed, timeout };
    Status status = Status::ok;
    std::vector<std::string> unknown_packages; // for not_found: all of them
    std::string package;                       // the culprit, if known
    std::string message;                       // Nix's message, trimmed
    Closure closure;                           // for ok
};

ResolveResult resolve_image(const PackageSource& source,
                            const ImageRequest& request,
                            const NixOptions& options);

} // namespace nixery
