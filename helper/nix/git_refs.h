// The branches and git tags of a package repository (NIXERY_PKGS_REPO), so
// that an image tag naming none of them is refused before Nix runs.
//
// The names come from one `git ls-remote --heads --tags` of the repository
// (an argv, never a shell; the image tag is only ever compared with its
// output, never passed to git), kept for a short while: a flood of made-up
// tags then costs no process at all between two listings. A 40-hex commit
// cannot be checked this way (ls-remote lists only the tips): the resolver
// leaves commits to Nix's fetch (resolve.h). See docs/package-set.md.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace nixery {

// The names in `git ls-remote` output ("<sha>\t<ref>" lines):
// refs/heads/<name> and refs/tags/<name> (a peeled tag's "^{}" line names
// it again); other refs are ignored.
using RefNames = std::set<std::string, std::less<>>;
RefNames parse_ls_remote(std::string_view output);

class GitRefs {
  public:
    // Runs the listing for a URL: stdout of `git ls-remote`, or throws
    // std::runtime_error saying why it failed.
    using Lister = std::function<std::string(const std::string& url)>;

    // `lister` defaults to running git (with `timeout`).
    explicit GitRefs(std::string url,
                     std::chrono::seconds ttl = std::chrono::seconds(30),
                     std::chrono::seconds timeout = std::chrono::seconds(60),
                     Lister lister = {});

    // Whether the repository has a branch or git tag named `name`. Lists
    // again when the last listing is older than the TTL. Thread-safe (one
    // listing at a time; the others wait for it). Throws std::runtime_error
    // when git cannot list the repository.
    bool has(std::string_view name);

    // Every branch and git tag name, from a listing made now (which has()
    // then uses for the TTL). Thread-safe; throws as has() does.
    RefNames list();

  private:
    std::string url_;
    std::chrono::seconds ttl_;
    Lister lister_;
    std::mutex mutex_;
    RefNames refs_;
    std::chrono::steady_clock::time_point listed_{};
    bool fresh_ = false;
};

} // namespace nixery
