// Where the helper keeps images: one interface over a directory tree and
// over object stores (S3, Google Cloud Storage).
//
// Keys are the relative paths of the storage layout (src/storage_layout.h):
// "blobs/sha256/<hh>/<hex>", "manifests/oci/<hh>/<hex>", "index/<kk>/<key>",
// "layers/<ll>/<id>". Every backend publishes a key whole or not at all: a
// reader (nginx, another helper) sees the old object, no object or the
// whole new one, never a part. Objects are written once and never changed
// in place, except index entries, which a rebuild replaces whole.
//
// Layer tarballs are written to a local file first (local_tmp()) and then
// published with put_file(), so memory stays bounded whatever the layer's
// size, on every backend.
//
// One Storage is used by several threads at once: assembly builds layers
// in parallel and the daemon runs several builds. The helper reaches
// storage only through this interface (the collector too), so a backend
// plugs in with no other change.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace nixery {

// A failure to talk to the storage (I/O error, a refused or failed request).
// Its message never carries a secret.
class StorageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct StoredObject {
    std::string key;
    std::uint64_t size = 0;
    std::int64_t mtime = 0; // unix seconds: when it was published
};

class Storage {
  public:
    virtual ~Storage() = default;

    // "filesystem /srv/nixery", "s3 bucket images at https://..." (no
    // credentials): for logs and errors.
    virtual std::string describe() const = 0;

    // A local directory for files on their way into storage (created when
    // missing); on a filesystem, inside the storage root, so publishing is
    // a rename.
    virtual const std::string& local_tmp() const = 0;

    // Publish `bytes` as `key`, replacing what was there.
    virtual void put(std::string_view key, std::string_view bytes) = 0;

    // Publish the local file `path` (under local_tmp()) as `key`; the file
    // is gone afterwards, whether or not the call succeeded.
    virtual void put_file(std::string_view key, const std::string& path) = 0;

    // The whole object when it exists and holds at most `max` bytes;
    // nullopt when it does not exist. Throws StorageError when it cannot be
    // read or is larger than `max`.
    virtual std::optional<std::string> get(std::string_view key,
                                           std::size_t max) = 0;

    // The whole object passed to `each` in pieces, in order; false when it
    // does not exist. Throws StorageError when it cannot be read. For
    // checking large blobs: the filesystem streams the file (bounded
    // memory); the default reads the object whole with get().
    virtual bool read(std::string_view key,
                      const std::function<void(std::string_view)>& each);

    // The object's size, nullopt when it does not exist.
    virtual std::optional<std::uint64_t> size(std::string_view key) = 0;

    // Every object whose key starts with `prefix` (which ends in '/'), in
    // no particular order. Objects published or removed during the walk
    // may or may not be seen.
    virtual void list(std::string_view prefix,
                      const std::function<void(const StoredObject&)>& each) = 0;

    // Remove `key`; removing what does not exist is not an error.
    virtual void remove(std::string_view key) = 0;

    // The directory tree this storage is, for the filesystem backend only
    // (nullopt for the others). What only a directory has depends on it:
    // the flock(2) collection lock on <root>/gc.lock (storage/lock.h) and
    // the collector's sweep of files left under tmp/ by crashed writers.
    virtual std::optional<std::string> filesystem_root() const
    {
        return std::nullopt;
    }
};

// The directory tree at `root` (created when missing): files are written
// under <root>/tmp, fsync'ed and renamed into place.
std::unique_ptr<Storage> open_filesystem_storage(const std::string& root);

} // namespace nixery
