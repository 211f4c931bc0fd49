// The symlink layer: the image's top-level tree, made of symlinks into
// the store, built by the helper itself (Nixery builds it with Nix).
//
// buildEnv semantics over the requested outputs (Closure::roots, in sorted
// order): a directory only one output has is one symlink to it; a directory
// two outputs share becomes a real directory (0755) merging both, file by
// file; a file two outputs provide is a conflict, resolved for the first
// output in path order and logged. Then the helper's own entries:
//
//     /                                  0755
//     /tmp                               1777
//     /usr/bin/env                    -> coreutils' bin/env (when present)
//     /etc/ssl/certs/ca-bundle.crt    -> cacert's bundle (when present)
//     /etc/ssl/certs/ca-certificates.crt  (the same bundle, Debian's name)
//     /bin/sh                         -> bash's bin/bash (when bash is in
//                                        the closure and no output has sh)
//     /etc/passwd, /etc/group         root and nobody (files, 0644)
//     /etc/nsswitch.conf              files, and dns for hosts
//     /root                           0700, root's home
// An entry the requested outputs already provide is kept, never replaced.
#pragma once

#include "base/closure.h"

#include <string>
#include <vector>

namespace nixery {

struct TreeEntry {
    enum class Kind { directory, symlink, file };
    std::string name; // member name: "." or "bin/hello" (relative)
    Kind kind = Kind::directory;
    unsigned mode = 0755; // directories and files
    std::string target;   // symlinks; for files, their content
};

// The entries of the symlink layer in tar order (depth-first, children
// sorted byte-wise). Store paths are read at "<store_prefix><path>".
std::vector<TreeEntry> symlink_layer_entries(const Closure& closure,
                                             const std::string& store_prefix);

} // namespace nixery
