// Image assembly: a Closure in, a stored, pullable image out.
//
// Groups the closure into layers (layering.h), writes each layer tarball
// once (cached by its store-path set in storage), builds the symlink layer,
// the image config and both manifests (Docker schema 2 and OCI), publishes
// everything into storage (storage/storage.h), and writes the index entry
// for the request last, all under the collection lock held shared
// (storage/lock.h). See docs/images.md.
#pragma once

#include "base/closure.h"
#include "image/popularity.h"
#include "image_request.h"
#include "storage/lock.h"
#include "storage/storage.h"
#include "storage_layout.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace nixery {

struct AssembleOptions {
    // Where store paths are read from on disk: "<store_prefix><path>".
    // Empty for the real /nix/store; tests point it at a temp tree.
    std::string store_prefix;
    std::size_t layer_budget = 94; // store-path layers (+1 symlink layer)
    const Popularity* popularity = nullptr;
    unsigned threads = 0; // 0: one per core
    // Unix time when the index entry expires; 0 = never (pinned sources).
    std::int64_t expires = 0;
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

} // namespace nixery
