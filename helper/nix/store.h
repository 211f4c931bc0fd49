// Nix's store operations the helper needs: realise outputs (under GC
// roots) and read the closure graph with NAR sizes from Nix's own store
// queries (`nix path-info --json -r`). The argv builders and the JSON
// parser are separate so that tests can check them without Nix.
#pragma once

#include "base/closure.h"
#include "base/process.h"
#include "nix/gc_roots.h"

#include <string>
#include <string_view>
#include <vector>

namespace nixery {

// nix-store --realise <drvs...> --add-root <roots>/root
std::vector<std::string> realise_argv(const std::vector<std::string>& drvs,
                                      const GcRoots& roots);

// nix path-info --json -r <paths...> (the nix-command feature enabled).
std::vector<std::string> path_info_argv(const std::vector<std::string>& paths);

// Parses `nix path-info --json` output (an array of {path, narSize,
// references, ...}) into store paths sorted by path. Throws
// std::runtime_error on malformed input or a path Nix reports invalid.
std::vector<StorePath> parse_path_info(std::string_view json);

// Nix's message from its stderr: from the first "error:" line on (or the
// last lines when there is none), colour codes removed, trimmed, at most
// `max` bytes.
std::string nix_error_message(std::string_view stderr_text,
                              std::size_t max = 4096);

// For a failed build: Nix's message, then the last `lines` lines the
// builder printed before it (Nix 2.8's nix-store prints them as they come,
// not in its error).
std::string nix_build_error_message(std::string_view stderr_text,
                                    std::size_t lines = 10,
                                    std::size_t max = 4096);

} // namespace nixery
