#include "storage/references.h"

#include "digest.h"
#include "json.h"

#include <jansson.h>

namespace nixery {

std::vector<Fanned> list_fanned_out(Storage& storage, const std::string& prefix)
{
    std::vector<Fanned> out;
    storage.list(prefix, [&](const StoredObject& o) {
        std::string_view rest = std::string_view(o.key).substr(prefix.size());
        if (rest.size() != 3 + 64 || rest[2] != '/') {
            return;
        }
        std::string_view hex = rest.substr(3);
        if (is_sha256_hex(hex) && hex.substr(0, 2) == rest.substr(0, 2)) {
            out.push_back({o.key, std::string(hex), o.size});
        }
    });
    return out;
}

namespace {

// Appends the descriptor's digest and size; false when it has none.
bool add_reference(json_t* descriptor, std::vector<Reference>& out)
{
    const char* digest =
        json_string_value(json_object_get(descriptor, "digest"));
    json_t* size = json_object_get(descriptor, "size");
    ParsedDigest parsed = parse_digest(digest ? digest : "");
    if (parsed.error != DigestError::none || parsed.hex.size() != 64 ||
        !json_is_integer(size) || json_integer_value(size) < 0) {
        return false;
    }
    out.push_back({std::string(parsed.hex),
                   static_cast<std::uint64_t>(json_integer_value(size))});
    return true;
}

// Every descriptor of the array `field` of `root` added; false when it is
// not an array of descriptors.
bool add_references(json_t* root, const char* field,
                    std::vector<Reference>& out)
{
    json_t* array = json_object_get(root, field);
    if (!json_is_array(array)) {
        return false;
    }
    std::size_t i;
    json_t* d;
    json_array_foreach(array, i, d)
    {
        if (!add_reference(d, out)) {
            return false;
        }
    }
    return true;
}

} // namespace

std::optional<std::vector<Reference>> manifest_references(std::string_view text)
{
    JsonPtr root(json_loadb(text.data(), text.size(), 0, nullptr));
    std::vector<Reference> out;
    if (!root || !json_is_object(root.get()) ||
        !add_reference(json_object_get(root.get(), "config"), out) ||
        !add_references(root.get(), "layers", out)) {
        return std::nullopt;
    }
    return out;
}

std::optional<std::vector<Reference>> list_references(std::string_view text)
{
    JsonPtr root(json_loadb(text.data(), text.size(), 0, nullptr));
    std::vector<Reference> out;
    if (!root || !json_is_object(root.get()) ||
        !add_references(root.get(), "manifests", out)) {
        return std::nullopt;
    }
    return out;
}

} // namespace nixery
