// The --layering flag of nixery-helper and nixery-assemble: which layering
// algorithm (image/layering.h) groups store paths into layers. The default
// is NIXERY_LAYERING's when set, else "stable"; "popularity" is Nixery's
// algorithm. Declared and checked here so that both programs accept and
// refuse the same values the same way.
#pragma once

#include "cmd/flags.h"
#include "image/layering.h"

#include <string>

namespace nixery::cmd {

// Declares --layering ALGO, setting *target; sets *target to the default
// (NIXERY_LAYERING, else "stable") first.
void add_layering_flag(Flags& flags, std::string* target);

// After parsing: the algorithm *target names; an unknown name is bad usage
// (flags.fail(), exit 2) naming the flag or the environment variable.
Layering layering_or_fail(const Flags& flags, const std::string& value);

} // namespace nixery::cmd
