#include "image/popularity.h"
#include "base/closure.h"
#include "base/process.h"
#include "json.h"

#include <jansson.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace nixery {

namespace {

// Popularity files are a few MB; anything far larger is not one.
constexpr std::size_t max_popularity_bytes = 256 << 20;

constexpr std::uint64_t forced_popularity = 500000;

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("popularity: cannot open " + path);
    }
    std::ostringstream out;
    out << in.rdbuf();
    if (in.bad()) {
        throw std::runtime_error("popularity: cannot read " + path);
    }
    return std::move(out).str();
}

// GET a URL with the curl program: argv only, bounded time and size.
std::string fetch_url(const std::string& url)
{
    ProcessOptions options;
    options.timeout = std::chrono::seconds(70);
    options.max_stdout = max_popularity_bytes;
    options.log_source = "curl";
    ProcessResult result =
        run_process({"curl", "--silent", "--show-error", "--fail", "--location",
                     "--max-time", "60", "--max-filesize",
                     std::to_string(max_popularity_bytes), "--proto",
                     "=http,https", "--", url},
                    options);
    if (!result.ok() || result.stdout_overflow) {
        throw std::runtime_error("popularity: fetching " + url +
                                 " failed: " + describe_failure(result));
    }
    return std::move(result.out);
}

} // namespace

Popularity parse_popularity(std::string_view text)
{
    json_error_t err;
    JsonPtr root(json_loadb(text.data(), text.size(), 0, &err));
    if (!root) {
        throw std::runtime_error(std::string("popularity: bad JSON: ") +
                                 err.text);
    }
    if (!json_is_object(root.get())) {
        throw std::runtime_error("popularity: not a JSON object");
    }
    Popularity out;
    const char* key = nullptr;
    json_t* value = nullptr;
    json_object_foreach(root.get(), key, value)
    {
        if (!json_is_integer(value) || json_integer_value(value) < 0) {
            throw std::runtime_error(std::string("popularity: count of \"") +
                                     key + "\" is not a non-negative integer");
        }
        out.emplace(key, static_cast<std::uint64_t>(json_integer_value(value)));
    }
    return out;
}

Popularity load_popularity(const std::string& source)
{
    if (source.empty()) {
        return {};
    }
    if (source.starts_with("http://") || source.starts_with("https://")) {
        return parse_popularity(fetch_url(source));
    }
    return parse_popularity(read_file(source));
}

std::string_view name_without_version(std::string_view name) noexcept
{
    for (std::size_t i = 0; i + 1 < name.size(); ++i) {
        if (name[i] == '-' && name[i + 1] >= '0' && name[i + 1] <= '9') {
            return name.substr(0, i);
        }
    }
    return name;
}

std::uint64_t path_popularity(const Popularity* popularity,
                              std::string_view path)
{
    std::string_view name = store_path_name(path);
    // Every image carries these two (Nixery forces them the same way): a
    // high count keeps them in small layers of their own, shared by all.
    if (name.starts_with("nss-cacert") || name.starts_with("iana-etc")) {
        return forced_popularity;
    }
    if (popularity != nullptr) {
        if (auto it = popularity->find(name); it != popularity->end()) {
            return it->second;
        }
        if (auto it = popularity->find(name_without_version(name));
            it != popularity->end()) {
            return it->second;
        }
    }
    return 1;
}

} // namespace nixery
