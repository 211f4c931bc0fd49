#include "base/closure.h"

namespace nixery {

std::string_view store_path_name(std::string_view path) noexcept
{
    auto slash = path.find_last_of('/');
    std::string_view base = slash == path.npos ? path : path.substr(slash + 1);
    auto dash = base.find('-');
    return dash == base.npos ? base : base.substr(dash + 1);
}

} // namespace nixery
