// The real image builder for the queue: Nix resolution (resolve.h) then
// image assembly (assemble.h), behind queue_builder.h's Builder. The GC
// roots of the resolution are held until assembly has packed the closure.
// Wiring it into nixery-helper takes the package source (package_source.h)
// and the helper's flags; see docs/nix.md.
//
// With several platforms configured, a request for the default platform
// (a name without `arm64`) is built for each of them, each resolved by Nix
// for its system, and published as one image index (assemble_platforms());
// a platform whose image is already stored under its own key is reused.
#pragma once

#include "image/assemble.h"
#include "nix/resolve.h"
#include "queue/builder.h"

#include <cstddef>
#include <string>
#include <vector>

namespace nixery {

struct NixBuilderOptions {
    PackageSource source;
    NixOptions nix;
    std::size_t layer_budget = 94;
    Popularity popularity; // loaded once (popularity.h); empty: all 1
    Layering layering = Layering::stable;
    unsigned threads = 0; // assembly threads; 0: one per core
    // The platforms an image is built for (image_index.h), the default
    // (amd64) first; one platform: single manifests, no lists.
    std::vector<Arch> platforms{Arch::amd64};
};

// Outcomes: ok once the image is published; not_found with every unknown
// package; failed with a one-line message naming the package and Nix's
// words as the detail (evaluation, build, timeout). For several platforms,
// the default platform's outcome is the request's; another platform whose
// packages the set cannot provide (unknown, or failing evaluation) is left
// out of the index with a warning, while its build failing or timing out
// fails the request (the job is retried). Exceptions (Nix cannot
// run, assembly fails) propagate: the daemon reports them as failures.
// Images go into `storage` under `lock` (assemble.h); both outlive the
// builder.
queue::Builder make_nix_builder(NixBuilderOptions options, Storage& storage,
                                CollectionLock& lock);

} // namespace nixery
