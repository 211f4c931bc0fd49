// Reading a closure straight from the local Nix store's database.
//
// `nix path-info --json -r` costs a whole Nix process per image (most of it
// Nix starting up); the same graph is one recursive query on Nix's SQLite
// database (ValidPaths and Refs, schema 10, unchanged since Nix 1.x), opened
// read-only. The read is only a shortcut: whenever the database is not the
// local store's, cannot be opened or answers anything incomplete (a root
// not valid, a size unknown), it returns nothing and the caller asks Nix.
// Read only after the roots are GC roots: then the closure cannot change.
#pragma once

#include "base/closure.h"

#include <optional>
#include <string>
#include <vector>

namespace nixery {

// The database of the store Nix uses here, or "" when that is not a local
// store on this machine (NIX_REMOTE naming another store): then only Nix
// knows. $NIX_STATE_DIR/db/db.sqlite, by default /nix/var/nix/db/db.sqlite.
std::string local_store_db();

// The closure of `roots` (store paths) with NAR sizes and references,
// sorted by path, as parse_path_info() gives it. nullopt (with the reason
// in `why`, if given) when `db` is empty or unreadable, or a root or a size
// is missing.
std::optional<std::vector<StorePath>>
read_closure_db(const std::string& db, const std::vector<std::string>& roots,
                std::string* why = nullptr);

} // namespace nixery
