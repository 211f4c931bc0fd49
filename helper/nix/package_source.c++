#include "nix/package_source.h"
#include "json.h"

#include <jansson.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace nixery {

namespace {

std::string env(const char* name)
{
    const char* v = std::getenv(name);
    return v ? v : "";
}

PackageSource pick(const SourceSettings& s)
{
    if (!s.channel.empty()) {
        return {PackageSource::Type::channel, s.channel};
    }
    if (!s.pkgs_repo.empty()) {
        return {PackageSource::Type::git, s.pkgs_repo};
    }
    return {PackageSource::Type::path,
            std::filesystem::absolute(s.pkgs_path).lexically_normal()};
}

} // namespace

bool is_commit(std::string_view s) noexcept
{
    if (s.size() != 40) {
        return false;
    }
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

bool PackageSource::pinned(std::string_view tag) const
{
    switch (type) {
    case Type::channel:
        return is_commit(value);
    case Type::git:
        return is_commit(tag);
    case Type::path:
        return false;
    }
    return false;
}

SourceSettings source_settings_from_env()
{
    return {env("NIXERY_CHANNEL"), env("NIXERY_PKGS_REPO"),
            env("NIXERY_PKGS_PATH")};
}

PackageSource choose_package_source(const SourceSettings& flags,
                                    const SourceSettings& environment)
{
    if (!flags.empty()) {
        return pick(flags);
    }
    if (!environment.empty()) {
        return pick(environment);
    }
    throw std::invalid_argument(
        "no valid package source has been specified (set NIXERY_CHANNEL, "
        "NIXERY_PKGS_REPO or NIXERY_PKGS_PATH)");
}

RenderedSource render_source(const PackageSource& source, std::string_view tag)
{
    switch (source.type) {
    case PackageSource::Type::channel:
        return {"nixpkgs", source.value};
    case PackageSource::Type::path:
        return {"path", source.value};
    case PackageSource::Type::git:
        break;
    }
    JsonPtr obj(json_object());
    json_t* url = json_stringn(source.value.data(), source.value.size());
    if (url == nullptr) {
        throw std::invalid_argument("repository URL is not UTF-8");
    }
    json_object_set_new(obj.get(), "url", url);
    if (!tag.empty() && tag != "latest") {
        json_t* t = json_stringn(tag.data(), tag.size());
        if (t == nullptr) {
            throw std::invalid_argument("tag is not UTF-8");
        }
        json_object_set_new(obj.get(), is_commit(tag) ? "rev" : "ref", t);
    }
    return {"git", json_dump(obj.get(), JSON_COMPACT | JSON_SORT_KEYS)};
}

} // namespace nixery
