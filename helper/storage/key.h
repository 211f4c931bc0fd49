// The one check of a storage key, shared by every backend: a key is a
// relative path of the storage layout (storage.h), and anything else is a
// bug in the caller, refused before it can name a file outside the root or
// an object outside the layout.
#pragma once

#include <string_view>

namespace nixery {

// Throws StorageError unless `key` is non-empty, has no leading or trailing
// '/', and no empty, "." or ".." segment or NUL byte.
void check_storage_key(std::string_view key);

// A list() prefix: a key followed by '/'. Throws StorageError otherwise.
void check_storage_prefix(std::string_view prefix);

} // namespace nixery
