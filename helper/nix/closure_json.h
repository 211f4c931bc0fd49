// Reading a closure from JSON: the input format of nixery-assemble, and a
// parser for what `nix path-info --json -r` prints.
//
// Accepted documents:
//
//   - the array `nix path-info --json -r` prints (Nix 2.8):
//       [{"path":"/nix/store/...","narSize":123,"references":[...]}, ...]
//   - the object newer Nix prints, keyed by path:
//       {"/nix/store/...":{"narSize":123,"references":[...]}, ...}
//   - an object with that array or object under "paths", plus optional
//       "roots": ["/nix/store/..."] and "attributes": ["bashInteractive"].
//
// Other fields are ignored. References may be full store paths or base
// names (Nix prints either, depending on the version).
#pragma once

#include "base/closure.h"

#include <string_view>

namespace nixery {

// Throws std::runtime_error on malformed input. Paths are sorted and
// de-duplicated, roots sorted. When the document names no roots, the roots
// are the paths no other path references.
Closure parse_closure_json(std::string_view json);

} // namespace nixery
