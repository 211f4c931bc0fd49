#include "storage/key.h"

#include "storage/storage.h"

#include <string>

namespace nixery {

void check_storage_key(std::string_view key)
{
    bool ok = !key.empty() && key.front() != '/' && key.back() != '/';
    std::size_t start = 0;
    while (ok && start <= key.size()) {
        std::size_t end = key.find('/', start);
        if (end == key.npos) {
            end = key.size();
        }
        std::string_view seg = key.substr(start, end - start);
        ok = !seg.empty() && seg != "." && seg != ".." &&
             seg.find('\0') == seg.npos;
        start = end + 1;
    }
    if (!ok) {
        throw StorageError("storage: not a storage key: " + std::string(key));
    }
}

void check_storage_prefix(std::string_view prefix)
{
    if (prefix.empty() || prefix.back() != '/') {
        throw StorageError("storage: list prefix must end in '/': " +
                           std::string(prefix));
    }
    check_storage_key(prefix.substr(0, prefix.size() - 1));
}

} // namespace nixery
