// The real image builder for the queue: Nix resolution (resolve.h) then
// image assembly (assemble.h), behind queue_builder.h's Builder. The GC
// roots of the resolution are held until assembly has packed the closure.
// Wiring it into nixery-helper takes the package source (package_source.h)
// and the helper's flags; see docs/nix.md.
#pragma once

#include "image/assemble.h"
#include "nix/resolve.h"
#include "queue/builder.h"

#include <cstddef>
#include <string>

namespace nixery {

struct NixBuilderOptions {
    PackageSource source;
    NixOptions nix;
    std::size_t layer_budget = 94;
    Popularity popularity; // loaded once (popularity.h); empty: all 1
    unsigned threads = 0;  // assembly threads; 0: one per core
};

// Outcomes: ok once the image is published; not_found with every unknown
// package; failed with a one-line message naming the package and Nix's
// words as the detail (evaluation, build, timeout). Exceptions (Nix cannot
// run, assembly fails) propagate: the daemon reports them as failures.
// Images go into `storage` under `lock` (assemble.h); both outlive the
// builder.
queue::Builder make_nix_builder(NixBuilderOptions options, Storage& storage,
                                CollectionLock& lock);

} // namespace nixery
