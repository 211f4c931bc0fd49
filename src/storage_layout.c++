#include "storage_layout.h"

#include "digest.h"

#include <charconv>
#include <stdexcept>

namespace nixery {

namespace {

// <prefix><kind>/<hh>/<hex> (kind may be empty), built with one allocation:
// the module builds one of these for every request it serves.
std::string fanned(std::string_view prefix, std::string_view hex,
                   std::string_view kind = {})
{
    std::string out;
    out.reserve(prefix.size() + kind.size() + 1 + 3 + hex.size());
    out.append(prefix);
    if (!kind.empty()) {
        out.append(kind);
        out.push_back('/');
    }
    out.append(hex.substr(0, 2));
    out.push_back('/');
    out.append(hex);
    return out;
}

template <typename Int> bool parse_int(std::string_view s, Int& out) noexcept
{
    // At most 19 digits: max_index_entry_number.
    if (s.empty() || s.size() > 19) {
        return false;
    }
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

// Split off one '\n'-terminated line.
bool next_line(std::string_view& text, std::string_view& line) noexcept
{
    auto nl = text.find('\n');
    if (nl == text.npos) {
        return false;
    }
    line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    return true;
}

bool parse_manifest_line(std::string_view line, std::string_view kind,
                         std::string& hex, std::uint64_t& size)
{
    if (line.substr(0, kind.size()) != kind ||
        line.substr(kind.size(), 1) != " ") {
        return false;
    }
    line.remove_prefix(kind.size() + 1);
    auto space = line.find(' ');
    if (space == line.npos) {
        return false;
    }
    ParsedDigest d = parse_digest(line.substr(0, space));
    if (d.error != DigestError::none ||
        !parse_int(line.substr(space + 1), size)) {
        return false;
    }
    hex = d.hex;
    return true;
}

} // namespace

std::string blob_path(std::string_view hex)
{
    return fanned("blobs/sha256/", hex);
}

std::string manifest_path(ManifestKind kind, std::string_view hex)
{
    return fanned("manifests/", hex, manifest_kind_name(kind));
}

std::string index_path(std::string_view key)
{
    return fanned("index/", key);
}

std::string layer_cache_path(std::string_view layer_id)
{
    return fanned("layers/", layer_id);
}

std::string format_index_entry(const IndexEntry& e)
{
    // Refuse what parse_index_entry() would: the reader's grammar, checked
    // on every manifest request in nginx, is the format.
    bool lists = !e.docker_list_hex.empty() || !e.oci_index_hex.empty();
    if (!is_sha256_hex(e.docker_hex) || !is_sha256_hex(e.oci_hex) ||
        (lists && (!is_sha256_hex(e.docker_list_hex) ||
                   !is_sha256_hex(e.oci_index_hex)))) {
        throw std::invalid_argument(
            "index entry: a manifest digest is 64 lowercase hex digits");
    }
    if (e.docker_size > max_index_entry_number ||
        e.oci_size > max_index_entry_number ||
        e.docker_list_size > max_index_entry_number ||
        e.oci_index_size > max_index_entry_number || e.expires < 0) {
        throw std::invalid_argument(
            "index entry: sizes and expiry are 0 to 10^19 - 1");
    }
    if (!lists && (e.docker_list_size != 0 || e.oci_index_size != 0)) {
        throw std::invalid_argument("index entry: a list size without a list");
    }
    auto line = [](std::string_view kind, const std::string& hex,
                   std::uint64_t size) {
        return std::string(kind) + " sha256:" + hex + " " +
               std::to_string(size) + "\n";
    };
    std::string out = lists ? "nixery-index-v2\n" : "nixery-index-v1\n";
    out += line("docker", e.docker_hex, e.docker_size);
    out += line("oci", e.oci_hex, e.oci_size);
    if (lists) {
        out += line("docker-list", e.docker_list_hex, e.docker_list_size);
        out += line("oci-index", e.oci_index_hex, e.oci_index_size);
    }
    out += "expires " + std::to_string(e.expires) + "\n";
    return out;
}

std::optional<IndexEntry> parse_index_entry(std::string_view text)
{
    if (text.size() > max_index_entry_size) {
        return std::nullopt;
    }
    IndexEntry e;
    std::string_view line;
    if (!next_line(text, line) ||
        (line != "nixery-index-v1" && line != "nixery-index-v2")) {
        return std::nullopt;
    }
    bool lists = line == "nixery-index-v2";
    if (!next_line(text, line) ||
        !parse_manifest_line(line, "docker", e.docker_hex, e.docker_size)) {
        return std::nullopt;
    }
    if (!next_line(text, line) ||
        !parse_manifest_line(line, "oci", e.oci_hex, e.oci_size)) {
        return std::nullopt;
    }
    if (lists && (!next_line(text, line) ||
                  !parse_manifest_line(line, "docker-list", e.docker_list_hex,
                                       e.docker_list_size) ||
                  !next_line(text, line) ||
                  !parse_manifest_line(line, "oci-index", e.oci_index_hex,
                                       e.oci_index_size))) {
        return std::nullopt;
    }
    if (!next_line(text, line) || line.substr(0, 8) != "expires " ||
        !parse_int(line.substr(8), e.expires) || !text.empty()) {
        return std::nullopt;
    }
    return e;
}

} // namespace nixery
