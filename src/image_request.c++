#include "image_request.h"

#include "digest.h"

#include <algorithm>

namespace nixery {

namespace {

bool is_lower_alnum(char c) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool is_digit(char c) noexcept
{
    return c >= '0' && c <= '9';
}

// One path component: [a-z0-9]+ ( ( '.' | '_' | '__' | '-'+ ) [a-z0-9]+ )*
bool valid_component(std::string_view c) noexcept
{
    if (c.empty() || !is_lower_alnum(c.front()) || !is_lower_alnum(c.back())) {
        return false;
    }
    std::size_t i = 0;
    while (i < c.size()) {
        if (is_lower_alnum(c[i])) {
            ++i;
            continue;
        }
        // A separator run; the component's last byte is alphanumeric, so a
        // separator is always followed by something.
        std::size_t start = i;
        char sep = c[i];
        if (sep == '.') {
            ++i;
        } else if (sep == '_') {
            ++i;
            if (i < c.size() && c[i] == '_') {
                ++i;
            }
        } else if (sep == '-') {
            while (i < c.size() && c[i] == '-') {
                ++i;
            }
        } else {
            return false;
        }
        if (i == start || !is_lower_alnum(c[i])) {
            return false;
        }
    }
    return true;
}

// Registry names are lowercase and may not start a component with a digit in
// nixpkgs' attribute names; nixpkgs spells such attributes with a leading
// underscore (`1password` -> `_1password`). Applied to each attribute level.
std::string normalise_package(std::string_view component)
{
    std::string out;
    out.reserve(component.size() + 4);
    bool level_start = true;
    for (char c : component) {
        if (level_start && is_digit(c)) {
            out.push_back('_');
        }
        out.push_back(c);
        level_start = (c == '.');
    }
    return out;
}

void append_json_string(std::string& out, std::string_view s)
{
    // Package names are validated ASCII without quotes or control bytes, but
    // escape defensively so this can never produce invalid JSON.
    out.push_back('"');
    for (char c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20) {
            static constexpr char digits[] = "0123456789abcdef";
            out += "\\u00";
            out.push_back(digits[u >> 4]);
            out.push_back(digits[u & 0x0f]);
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
}

} // namespace

std::string_view arch_name(Arch arch) noexcept
{
    return arch == Arch::arm64 ? "arm64" : "amd64";
}

std::string_view nix_system(Arch arch) noexcept
{
    return arch == Arch::arm64 ? "aarch64-linux" : "x86_64-linux";
}

bool valid_name(std::string_view name) noexcept
{
    if (name.empty() || name.size() > max_name_length) {
        return false;
    }
    std::size_t start = 0;
    while (true) {
        std::size_t slash = name.find('/', start);
        std::string_view comp = name.substr(
            start, slash == std::string_view::npos ? name.npos : slash - start);
        if (!valid_component(comp)) {
            return false;
        }
        if (slash == std::string_view::npos) {
            return true;
        }
        start = slash + 1;
    }
}

bool valid_tag(std::string_view tag) noexcept
{
    if (tag.empty() || tag.size() > max_tag_length) {
        return false;
    }
    for (std::size_t i = 0; i < tag.size(); ++i) {
        char c = tag[i];
        bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    is_digit(c) || c == '_';
        if (!word && (i == 0 || (c != '.' && c != '-'))) {
            return false;
        }
    }
    return true;
}

ParseResult parse_image_request(std::string_view name, std::string_view tag)
{
    ParseResult result;
    if (!valid_name(name)) {
        result.error = NameError::name_invalid;
        result.message =
            name.size() > max_name_length
                ? "image name is longer than " +
                      std::to_string(max_name_length) + " bytes"
                : "image name must be lowercase components of [a-z0-9] "
                  "joined by '.', '_' or '-', separated by '/'";
        return result;
    }
    if (!valid_tag(tag)) {
        result.error = NameError::tag_invalid;
        result.message = "tag must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}";
        return result;
    }

    ImageRequest& req = result.request;
    req.name = name;
    req.tag = tag;

    std::vector<std::string_view> components;
    for (std::size_t start = 0;;) {
        std::size_t slash = name.find('/', start);
        if (slash == std::string_view::npos) {
            components.push_back(name.substr(start));
            break;
        }
        components.push_back(name.substr(start, slash - start));
        start = slash + 1;
    }

    std::size_t i = 0;
    for (; i < components.size(); ++i) {
        if (components[i] == "shell") {
            req.shell = true;
        } else if (components[i] == "arm64") {
            req.arch = Arch::arm64;
        } else {
            break;
        }
    }

    std::vector<std::string>& pkgs = req.packages;
    for (; i < components.size(); ++i) {
        pkgs.push_back(normalise_package(components[i]));
    }
    if (req.shell) {
        for (const char* p :
             {"bashInteractive", "coreutils", "moreutils", "nano"}) {
            pkgs.emplace_back(p);
        }
    }
    pkgs.emplace_back("cacert");
    pkgs.emplace_back("iana-etc");
    std::sort(pkgs.begin(), pkgs.end());
    pkgs.erase(std::unique(pkgs.begin(), pkgs.end()), pkgs.end());

    if (pkgs.size() > max_packages) {
        result.error = NameError::name_invalid;
        result.message = "an image may name at most " +
                         std::to_string(max_packages) + " packages";
        result.request = {};
    }
    return result;
}

std::string canonical_encoding(const ImageRequest& request)
{
    std::string out = "nixery-request-v1";
    out.push_back('\0');
    out += "arch=";
    out += arch_name(request.arch);
    out.push_back('\0');
    out += "tag=";
    out += request.tag;
    out.push_back('\0');
    for (const std::string& p : request.packages) {
        out += "pkg=";
        out += p;
        out.push_back('\0');
    }
    return out;
}

std::string canonical_key(const ImageRequest& request)
{
    return sha256_hex(canonical_encoding(request));
}

std::string packages_json(const ImageRequest& request)
{
    std::string out = "[";
    for (std::size_t i = 0; i < request.packages.size(); ++i) {
        if (i != 0) {
            out.push_back(',');
        }
        append_json_string(out, request.packages[i]);
    }
    out.push_back(']');
    return out;
}

} // namespace nixery
