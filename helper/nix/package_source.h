// Where packages come from: a nixpkgs channel, a
// git repository or a local path, chosen from the helper's flags or, as
// Nixery does, from NIXERY_CHANNEL > NIXERY_PKGS_REPO > NIXERY_PKGS_PATH
// (same names, same precedence), and rendered for nix/load-pkgs.nix for
// one image tag. See docs/package-set.md.
#pragma once

#include <string>
#include <string_view>

namespace nixery {

struct PackageSource {
    enum class Type { channel, git, path };
    Type type = Type::path;
    std::string value; // channel ref, repository URL, or local path

    // True when the image for `tag` is pinned, so its manifest may be
    // cached forever: a git source with a 40-hex commit tag, or a channel
    // that is itself a 40-hex commit. A local path never is.
    bool pinned(std::string_view tag) const;
};

// One candidate per source type; empty means unset.
struct SourceSettings {
    std::string channel;   // --channel / NIXERY_CHANNEL
    std::string pkgs_repo; // --pkgs-repo / NIXERY_PKGS_REPO
    std::string pkgs_path; // --pkgs-path / NIXERY_PKGS_PATH

    bool empty() const
    {
        return channel.empty() && pkgs_repo.empty() && pkgs_path.empty();
    }
};

// Nixery's variables, read from the environment.
SourceSettings source_settings_from_env();

// The helper's flags win over the environment as a whole; within one, the
// channel wins over the repository over the path. A relative path is made
// absolute. Throws std::invalid_argument when nothing is set ("no valid
// package source has been specified", as Nixery says).
PackageSource choose_package_source(const SourceSettings& flags,
                                    const SourceSettings& env);

// What nix/load-pkgs.nix takes for a tag: srcType and srcArgs.
struct RenderedSource {
    std::string type; // "nixpkgs" | "git" | "path"
    std::string args; // the channel, a JSON object for fetchGit, a path
};

// A git source's tag: `latest` (or empty) is the default branch, 40 hex
// digits a commit (rev), anything else a branch (ref). The tag is ignored
// by the other sources.
RenderedSource render_source(const PackageSource& source, std::string_view tag);

// ^[0-9a-f]{40}$
bool is_commit(std::string_view s) noexcept;

} // namespace nixery
