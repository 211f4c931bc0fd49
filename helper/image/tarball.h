// Layer tarballs: a tar stream written with libarchive, hashed, gzipped
// with igzip, hashed again and published as a blob, in one streaming pass.
//
// The tar format is fixed so that a layer's bytes depend only on the store
// paths it holds (docs/images.md): member names relative (`nix/store/...`),
// entries in depth-first order with each directory's children sorted
// byte-wise, an explicit entry for every directory, uid/gid 0 (user and
// group "root"), mtime 1 (as in the Nix store), permission bits kept
// (setuid, setgid and sticky too), symlinks as symlinks, pax extended
// headers only where a name or target does not fit ustar (names are bytes:
// the helper never calls setlocale, so libarchive sees the "C" locale and
// marks non-ASCII names hdrcharset=BINARY instead of converting them). Hard
// links in the store are a host-local optimisation (nix-store --optimise) that
// NARs do not carry, so each link is written as the regular file it is: the
// layer is the same on a host that optimised its store and one that did not.
#pragma once

#include "image/gzip.h"
#include "storage/blob.h"
#include "storage/storage.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace nixery {

// The fixed mtime of every tar entry.
inline constexpr std::int64_t layer_mtime = 1;

class LayerWriter {
  public:
    // Streams into a temporary file under storage.local_tmp(); compresses
    // on `pool` when given (the bytes are the same either way). `storage`
    // outlives the writer.
    explicit LayerWriter(Storage& storage, CompressionPool* pool = nullptr);
    ~LayerWriter();
    LayerWriter(const LayerWriter&) = delete;
    LayerWriter& operator=(const LayerWriter&) = delete;

    // Entries, in the order they should appear. `name` is the member name
    // without a trailing slash ("." for the root directory).
    void add_directory(std::string_view name, unsigned mode);
    void add_symlink(std::string_view name, std::string_view target);
    // Regular file with the contents of `disk_path`.
    void add_file(std::string_view name, unsigned mode,
                  const std::string& disk_path);
    // Regular file with the given contents.
    void add_contents(std::string_view name, unsigned mode,
                      std::string_view contents);

    // The whole tree of a store path, read from `disk_path`, as member
    // `name` (e.g. "nix/store/<hash>-foo"), depth-first, children sorted.
    // Files other than directories, regular files and symlinks are skipped
    // with a warning (a store has none).
    void add_tree(std::string_view name, const std::string& disk_path);

    // Close the tar and gzip streams, publish the blob at
    // blobs/sha256/<hh>/<digest> (Storage::put_file) and return its
    // digests and size.
    BlobInfo finish();

  private:
    struct State;
    std::unique_ptr<State> state_;
};

} // namespace nixery
