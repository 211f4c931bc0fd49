// Image assembly: a Closure in, a stored, pullable image out.
//
// Groups the closure into layers (layering.h), writes each layer tarball
// once (cached by its store-path set in storage), builds the symlink layer,
// the image config and both manifests (Docker schema 2 and OCI), publishes
// everything into storage (storage/storage.h), and writes the index entry
// for the request last, all under the collection lock held shared
// (storage/lock.h). An image for several platforms is one such image per
// platform plus a Docker manifest list and an OCI index naming them
// (image_index.h), under one entry. See docs/images.md.
#pragma once

#include "base/closure.h"
#include "image/layering.h"
#include "image/popularity.h"
#include "image_request.h"
#include "storage/lock.h"
#include "storage/storage.h"
#include "storage_layout.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

// What an assembly did, for the helper's metrics: store-path layers built
// now and taken from the layer cache (the symlink layer is always built
// and counts in neither). Each image assembled adds to them (every platform
// of assemble_platforms()).
struct AssembleCounts {
    std::size_t layers_built = 0;
    std::size_t layers_cached = 0;
};

struct AssembleOptions {
    // Where store paths are read from on disk: "<store_prefix><path>".
    // Empty for the real /nix/store; tests point it at a temp tree.
    std::string store_prefix;
    std::size_t layer_budget = 94; // store-path layers (+1 symlink layer)
    const Popularity* popularity = nullptr;
    // Which algorithm groups the closure (layering.h).
    Layering layering = Layering::stable;
    unsigned threads = 0; // 0: one per core
    // Unix time when the index entry expires; 0 = never (pinned sources).
    std::int64_t expires = 0;
    // Filled in once the image is published, when set.
    AssembleCounts* counts = nullptr;
    // Told "building" with the layer being built (from 1) of how many this
    // image needs built (its uncached store-path layers and the symlink
    // layer), then "publishing". Called from several threads; may be
    // empty.
    std::function<void(std::string_view phase, std::size_t layer,
                       std::size_t layers)>
        progress;
};

// Assemble and publish into `storage`, holding `lock` shared from the
// first layer cache lookup to the index entry; returns the index entry
// written for the request. Throws std::runtime_error (or std::system_error,
// StorageError) on failure; nothing becomes visible under index/ unless the
// whole image is stored.
IndexEntry assemble_image(Storage& storage, CollectionLock& lock,
                          const ImageRequest& request, const Closure& closure,
                          const AssembleOptions& options);

// One platform of an image built for several (assemble_platforms()).
struct PlatformBuild {
    Arch arch = Arch::amd64;
    // The closure to assemble for this platform...
    const Closure* closure = nullptr;
    // ...or, when set, this platform's image as already stored under its
    // own key (nothing is assembled for it).
    std::optional<IndexEntry> stored;
};

// Assemble an image for several platforms, holding `lock` shared from the
// first layer cache lookup to the index entry: each platform's image (the
// request with the platform's architecture), its Docker manifest list and
// OCI index naming them in `platforms` order, then the request's index
// entry (version 2) naming the default platform's manifests and both lists.
// platforms[0] is the default platform and has the request's architecture;
// its image gets no entry of its own (the request's is it). Every other
// platform's image is published under its own key too, the one an
// `arm64/...` name has, so both names share one build. Throws as
// assemble_image().
IndexEntry assemble_platforms(Storage& storage, CollectionLock& lock,
                              const ImageRequest& request,
                              const std::vector<PlatformBuild>& platforms,
                              const AssembleOptions& options);

} // namespace nixery
