#include "cmd/layering_flag.h"

#include <cstdlib>

namespace nixery::cmd {

void add_layering_flag(Flags& flags, std::string* target)
{
    const char* env = std::getenv("NIXERY_LAYERING");
    *target = env != nullptr && *env != '\0' ? env : "stable";
    flags.text("--layering", target, "ALGO",
               "layering: stable (each store path its own layer\n"
               "while the budget allows) or popularity (Nixery's);\n"
               "default NIXERY_LAYERING or stable");
}

Layering layering_or_fail(const Flags& flags, const std::string& value)
{
    if (auto l = parse_layering(value)) {
        return *l;
    }
    flags.fail("--layering (or NIXERY_LAYERING): \"" + value +
               "\" is neither stable nor popularity");
}

} // namespace nixery::cmd
