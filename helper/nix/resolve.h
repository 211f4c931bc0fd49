// Resolving an image request against a package set with Nix.
//
// Runs the expressions in nix/ (names passed only as JSON data through
// --argstr, never as code, never through a shell), realises the found
// outputs under GC roots, and takes the closure graph from Nix's store
// database (or its queries). See docs/nix.md.
#pragma once

#include "base/closure.h"
#include "image_request.h"
#include "nix/gc_roots.h"
#include "nix/git_refs.h"
#include "nix/package_source.h"
#include "nix/store_db.h"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

struct NixOptions {
    std::string nix_dir;               // the project's nix/ expressions
    std::chrono::seconds timeout{600}; // whole Nix call; group killed after
    std::string gc_roots_dir;          // where to hold GC roots while packing
    // A git source's branches and git tags, shared by the builds of one
    // helper so that its listing is reused; null: listed for each call.
    std::shared_ptr<GitRefs> git_refs;
    // The local store's database for reading closures without a Nix
    // process (store_db.h); "" asks `nix path-info` every time.
    std::string store_db = local_store_db();
};

// What nix/resolve.nix says about one requested name.
struct PackageResolution {
    enum class Status { found, not_found, failed };
    std::string name; // as requested
    Status status = Status::not_found;
    std::string attr_path;   // e.g. "perlPackages.JSON"
    std::string output_path; // found: the store path of the output
    std::string drv_path;    // found: its derivation
    std::string output_name; // found: "out", "dev", ...
    // failed: "throws", "not_derivation", "wrong_system", "ambiguous"
    std::string reason;
    std::string message;                 // failed: why, Nix's words if any
    std::vector<std::string> candidates; // ambiguous: the matches
};

// Parses resolve.nix's JSON. Throws std::runtime_error when malformed.
std::vector<PackageResolution> parse_resolution(std::string_view json);

// Where a resolution's time went, for the log and the bench: evaluating
// the names, realising (building or finding) and rooting the outputs,
// reading their closure. When one nix-build evaluates and realises, the
// split is the moment its resolution line came.
struct ResolveTimings {
    std::chrono::steady_clock::duration evaluate{};
    std::chrono::steady_clock::duration realise{};
    std::chrono::steady_clock::duration closure{};
    int nix_calls = 0;            // Nix processes run
    bool closure_from_db = false; // read from the store's database
};

struct ResolveResult {
    // tag_unknown: the source has no version by that tag (a path or a
    // channel has only `latest`; a git source lacks the branch, git tag or
    // commit); `message` says which tags it has.
    enum class Status {
        ok,
        not_found,
        eval_failed,
        build_failed,
        timeout,
        tag_unknown
    };
    Status status = Status::ok;
    std::vector<std::string> unknown_packages; // for not_found: all of them
    std::string package;                       // the culprit, if known
    std::string message;                       // Nix's message, trimmed
    Closure closure;                           // for ok
    // For ok: roots on the closure, released when the last copy of the
    // result goes (keep it until the image is packed).
    std::shared_ptr<const GcRoots> gc_roots;
    // Every name's resolution, when evaluation got that far.
    std::vector<PackageResolution> packages;
    ResolveTimings timings;
};

// Whether `tag` may name a version of `source`, decided without Nix:
// `latest` always; for a path or a channel nothing else; for a git source a
// branch or git tag it has (options.git_refs, else one listing) or any 40-hex
// commit (only Nix's fetch can tell; resolve_image() classifies its
// failure). Otherwise sets `error` to tag_unknown and returns false. Throws
// std::runtime_error when git cannot list the repository.
bool check_tag(const PackageSource& source, std::string_view tag,
               const NixOptions& options, ResolveResult* error);

// Evaluates only (no build): each name's resolution. Used by
// resolve_image() and by nixery-resolve. On a timeout or when the package
// set itself cannot be loaded (or check_tag() refuses the tag), `error` is
// set (status and message) and the list is empty.
std::vector<PackageResolution>
resolve_packages(const PackageSource& source, std::string_view tag,
                 std::string_view system, const std::vector<std::string>& names,
                 const NixOptions& options, ResolveResult* error);

// Resolves, realises and reads the closure of the request's packages:
// one nix-build (nix/resolve.nix with build = "1") evaluates, realises and
// roots them, and the closure comes from the store's database (else from
// `nix path-info`). Only a failure costs more Nix calls (the evaluation's
// diagnostics, as resolve_packages()). Failures of the request (unknown
// names, evaluation, build, timeout) are in the result; throws
// (std::system_error, std::runtime_error) only when Nix cannot be run at
// all or answers something unreadable.
ResolveResult resolve_image(const PackageSource& source,
                            const ImageRequest& request,
                            const NixOptions& options);

// A duration in milliseconds, for logs and JSON.
double milliseconds(std::chrono::steady_clock::duration d) noexcept;

// "not found", "evaluation failed", ... for logs and error details.
std::string_view status_name(ResolveResult::Status status) noexcept;

} // namespace nixery
