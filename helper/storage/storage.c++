#include "storage/storage.h"

#include <limits>

namespace nixery {

bool Storage::read(std::string_view key,
                   const std::function<void(std::string_view)>& each)
{
    std::optional<std::string> whole =
        get(key, std::numeric_limits<std::size_t>::max());
    if (!whole) {
        return false;
    }
    each(*whole);
    return true;
}

} // namespace nixery
