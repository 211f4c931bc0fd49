#include "nix/gc_roots.h"

#include "base/log.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace nixery {

GcRoots::GcRoots(const std::string& parent)
{
    std::filesystem::create_directories(parent);
    std::string tmpl = parent + "/roots.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
        throw std::system_error(errno, std::generic_category(),
                                "cannot create GC roots directory in " +
                                    parent);
    }
    // Nix registers the links by absolute path.
    dir_ = std::filesystem::absolute(tmpl).string();
}

GcRoots::~GcRoots()
{
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (ec) {
        log::warn("cannot release GC roots",
                  {{"dir", dir_}, {"error", ec.message()}});
    }
}

} // namespace nixery
