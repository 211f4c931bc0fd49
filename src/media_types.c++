#include "media_types.h"

namespace nixery {

namespace {

std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) {
        return false;
    }
    // Clients send media types in lowercase: one memcmp decides most calls.
    if (a == b) {
        return true;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') {
            x = static_cast<char>(x - 'A' + 'a');
        }
        if (y >= 'A' && y <= 'Z') {
            y = static_cast<char>(y - 'A' + 'a');
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}

// True when the parameters of one media range set q to zero.
bool refused(std::string_view params) noexcept
{
    while (!params.empty()) {
        auto semi = params.find(';');
        std::string_view p = trim(params.substr(0, semi));
        params =
            semi == params.npos ? std::string_view{} : params.substr(semi + 1);
        if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            std::string_view v = p.substr(2);
            bool zero = !v.empty();
            for (char c : v) {
                if (c != '0' && c != '.') {
                    zero = false;
                }
            }
            return zero;
        }
    }
    return false;
}

} // namespace

std::string_view manifest_media_type(ManifestKind kind) noexcept
{
    switch (kind) {
    case ManifestKind::docker:
        break;
    case ManifestKind::oci:
        return media::oci_manifest;
    case ManifestKind::docker_list:
        return media::docker_manifest_list;
    case ManifestKind::oci_index:
        return media::oci_index;
    }
    return media::docker_manifest;
}

std::string_view manifest_kind_name(ManifestKind kind) noexcept
{
    switch (kind) {
    case ManifestKind::docker:
        break;
    case ManifestKind::oci:
        return "oci";
    case ManifestKind::docker_list:
        return "docker-list";
    case ManifestKind::oci_index:
        return "oci-index";
    }
    return "docker";
}

bool is_list_kind(ManifestKind kind) noexcept
{
    return kind == ManifestKind::docker_list || kind == ManifestKind::oci_index;
}

ManifestKind list_member_kind(ManifestKind kind) noexcept
{
    switch (kind) {
    case ManifestKind::docker_list:
        return ManifestKind::docker;
    case ManifestKind::oci_index:
        return ManifestKind::oci;
    default:
        return kind;
    }
}

ManifestKind
choose_manifest_kind(const std::vector<std::string_view>& accept_lines) noexcept
{
    return choose_manifests(accept_lines).single;
}

ManifestChoice
choose_manifests(const std::vector<std::string_view>& accept_lines) noexcept
{
    bool any = false, docker = false, oci = false, wildcard = false;
    bool docker_list = false, oci_index = false;
    for (std::string_view line : accept_lines) {
        while (!line.empty()) {
            auto comma = line.find(',');
            std::string_view range = line.substr(0, comma);
            line = comma == line.npos ? std::string_view{}
                                      : line.substr(comma + 1);
            auto semi = range.find(';');
            std::string_view type = trim(range.substr(0, semi));
            if (type.empty()) {
                continue;
            }
            any = true;
            if (semi != range.npos && refused(range.substr(semi + 1))) {
                continue;
            }
            if (iequals(type, media::docker_manifest)) {
                docker = true;
            } else if (iequals(type, media::oci_manifest)) {
                oci = true;
            } else if (iequals(type, media::docker_manifest_list)) {
                docker_list = true;
            } else if (iequals(type, media::oci_index)) {
                oci_index = true;
            } else if (type == "*/*" || iequals(type, "application/*")) {
                wildcard = true;
            }
        }
    }
    ManifestChoice choice;
    choice.single = docker || !any || wildcard || !oci ? ManifestKind::docker
                                                       : ManifestKind::oci;
    choice.list_accepted = docker_list || oci_index;
    choice.list =
        docker_list ? ManifestKind::docker_list : ManifestKind::oci_index;
    return choice;
}

} // namespace nixery
