// What nix/resolve.nix prints for each requested name (Nix evaluates the
// package set; attribute names and messages come from it):
// parse_resolution(). Properties: a found package has an absolute output
// path and a .drv; only the three statuses come back.
#include "fuzz.h"

#include "nix/resolve.h"

#include <stdexcept>

using namespace nixery;

NIXERY_FUZZ_TARGET
{
    std::vector<PackageResolution> list;
    try {
        list = parse_resolution(fuzz::bytes(data, size));
    } catch (const std::runtime_error&) {
        return 0;
    }
    for (const PackageResolution& p : list) {
        using S = PackageResolution::Status;
        require(p.status == S::found || p.status == S::not_found ||
                p.status == S::failed);
        if (p.status == S::found) {
            require(p.output_path.starts_with("/") &&
                    p.drv_path.ends_with(".drv"));
        }
    }
    return 0;
}
