#include "image/image_index.h"

#include "json.h"

#include <jansson.h>

#include <algorithm>
#include <stdexcept>

namespace nixery {

namespace {

void set(json_t* obj, const char* key, json_t* value)
{
    if (value == nullptr || json_object_set_new(obj, key, value) != 0) {
        throw std::runtime_error("json: cannot build object");
    }
}

void append(json_t* array, json_t* value)
{
    if (value == nullptr || json_array_append_new(array, value) != 0) {
        throw std::runtime_error("json: cannot build array");
    }
}

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

} // namespace

std::string_view platform_name(Arch arch) noexcept
{
    return arch == Arch::arm64 ? "linux/arm64/v8" : "linux/amd64";
}

std::string_view platform_variant(Arch arch) noexcept
{
    return arch == Arch::arm64 ? "v8" : "";
}

std::vector<Arch> parse_platforms(std::string_view text)
{
    std::vector<Arch> out;
    while (true) {
        auto comma = text.find(',');
        std::string_view p = trim(text.substr(0, comma));
        Arch arch;
        if (p == "linux/amd64" || p == "amd64") {
            arch = Arch::amd64;
        } else if (p == "linux/arm64" || p == "linux/arm64/v8" ||
                   p == "arm64" || p == "linux/aarch64") {
            arch = Arch::arm64;
        } else {
            throw std::invalid_argument("unknown platform '" + std::string(p) +
                                        "' (known: linux/amd64, linux/arm64)");
        }
        if (std::find(out.begin(), out.end(), arch) != out.end()) {
            throw std::invalid_argument("platform '" + std::string(p) +
                                        "' given twice");
        }
        out.push_back(arch);
        if (comma == text.npos) {
            break;
        }
        text.remove_prefix(comma + 1);
    }
    auto amd64 = std::find(out.begin(), out.end(), Arch::amd64);
    if (amd64 == out.end()) {
        throw std::invalid_argument(
            "the platforms must include linux/amd64, the default platform");
    }
    std::rotate(out.begin(), amd64, amd64 + 1);
    return out;
}

std::string format_platforms(const std::vector<Arch>& platforms)
{
    std::string out;
    for (Arch a : platforms) {
        if (!out.empty()) {
            out += ',';
        }
        out += platform_name(a);
    }
    return out;
}

std::string image_list_json(ManifestKind kind,
                            const std::vector<PlatformManifest>& manifests)
{
    if (!is_list_kind(kind)) {
        throw std::invalid_argument("image_list_json: not a list kind");
    }
    ManifestKind member = list_member_kind(kind);
    JsonPtr root(json_object());
    set(root.get(), "schemaVersion", json_integer(2));
    set(root.get(), "mediaType", lossy_json_string(manifest_media_type(kind)));
    json_t* array = json_array();
    set(root.get(), "manifests", array);
    for (const PlatformManifest& m : manifests) {
        json_t* d = json_object();
        append(array, d);
        set(d, "mediaType", lossy_json_string(manifest_media_type(member)));
        set(d, "size", json_integer(static_cast<json_int_t>(m.size)));
        set(d, "digest", lossy_json_string("sha256:" + m.hex));
        json_t* platform = json_object();
        set(d, "platform", platform);
        set(platform, "architecture", lossy_json_string(arch_name(m.arch)));
        set(platform, "os", lossy_json_string("linux"));
        if (!platform_variant(m.arch).empty()) {
            set(platform, "variant",
                lossy_json_string(platform_variant(m.arch)));
        }
    }
    return json_dump(root.get(), JSON_COMPACT | JSON_PRESERVE_ORDER);
}

} // namespace nixery
