#include "tag_list.h"

#include "image_request.h"
#include "json.h"
#include "sigv4.h"

#include <jansson.h>

#include <algorithm>
#include <limits>
#include <new>

namespace nixery {

namespace {

bool is_lower_hex(char c) noexcept
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

void sort_unique(std::vector<std::string>& v)
{
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
}

// A JSON array of `strings` (each through lossy_json_string()).
template <class Strings> JsonPtr string_array(const Strings& strings)
{
    JsonPtr array(json_array());
    if (!array) {
        throw std::bad_alloc();
    }
    for (std::string_view t : strings) {
        if (json_array_append_new(array.get(), lossy_json_string(t)) != 0) {
            throw std::bad_alloc();
        }
    }
    return array;
}

} // namespace

bool listable_ref(std::string_view name) noexcept
{
    if (!valid_tag(name)) {
        return false;
    }
    return !(name.size() == 40 &&
             std::all_of(name.begin(), name.end(),
                         [](char c) { return is_lower_hex(c); }));
}

std::string format_tags_record(const std::vector<std::string>& names,
                               std::string_view helper, std::int64_t listed_ms)
{
    std::vector<std::string> tags;
    for (const std::string& name : names) {
        if (listable_ref(name)) {
            tags.push_back(name);
        }
    }
    sort_unique(tags);
    if (tags.size() > max_listed_tags) {
        tags.resize(max_listed_tags);
    }
    JsonPtr array = string_array(tags);
    JsonPtr root(json_object());
    if (!root) {
        throw std::bad_alloc();
    }
    if (json_object_set_new(root.get(), "v", json_integer(1)) != 0 ||
        json_object_set_new(root.get(), "helper", lossy_json_string(helper)) !=
            0 ||
        json_object_set_new(root.get(), "listed_ms", json_integer(listed_ms)) !=
            0 ||
        json_object_set(root.get(), "tags", array.get()) != 0) {
        throw std::bad_alloc();
    }
    return json_dump(root.get(), JSON_COMPACT | JSON_PRESERVE_ORDER);
}

std::optional<std::vector<std::string>> parse_tags_record(std::string_view text)
{
    if (text.size() > max_tags_record_size) {
        return std::nullopt;
    }
    JsonPtr root(json_loadb(text.data(), text.size(), 0, nullptr));
    if (!root || !json_is_object(root.get())) {
        return std::nullopt;
    }
    json_t* v = json_object_get(root.get(), "v");
    json_t* tags = json_object_get(root.get(), "tags");
    if (!json_is_integer(v) || json_integer_value(v) != 1 ||
        !json_is_array(tags)) {
        return std::nullopt;
    }
    std::vector<std::string> out;
    std::size_t i;
    json_t* t;
    json_array_foreach(tags, i, t)
    {
        if (out.size() >= max_listed_tags) {
            break;
        }
        if (!json_is_string(t)) {
            continue;
        }
        std::string_view s(json_string_value(t), json_string_length(t));
        if (listable_ref(s)) {
            out.emplace_back(s);
        }
    }
    sort_unique(out);
    return out;
}

std::vector<std::string> served_tags(std::vector<std::string> refs)
{
    refs.emplace_back("latest");
    sort_unique(refs);
    return refs;
}

TagsQuery parse_tags_query(std::string_view args)
{
    TagsQuery q;
    bool seen_n = false;
    bool seen_last = false;
    while (!args.empty()) {
        std::size_t amp = args.find('&');
        std::string_view pair = args.substr(0, amp);
        args = amp == std::string_view::npos ? std::string_view()
                                             : args.substr(amp + 1);
        std::size_t eq = pair.find('=');
        std::string_view key = pair.substr(0, eq);
        std::string_view value = eq == std::string_view::npos
                                     ? std::string_view()
                                     : pair.substr(eq + 1);
        if (value.empty()) {
            continue;
        }
        if (key == "n" && !seen_n) {
            seen_n = true;
            std::string digits = uri_decode(value);
            std::size_t n = 0;
            constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
            for (char c : digits) {
                if (c < '0' || c > '9') {
                    q.error = "the query parameter n must be a "
                              "non-negative integer (the most tags to "
                              "return)";
                    return q;
                }
                std::size_t d = static_cast<std::size_t>(c - '0');
                n = n > (max - d) / 10 ? max : n * 10 + d;
            }
            q.has_n = true;
            q.n = n;
        } else if (key == "last" && !seen_last) {
            seen_last = true;
            std::string last = uri_decode(value);
            if (!valid_tag(last)) {
                q.error = "the query parameter last must be a tag: "
                          "[A-Za-z0-9_][A-Za-z0-9._-]{0,127}";
                return q;
            }
            q.last = std::move(last);
        }
    }
    return q;
}

TagsPage page_tags(const std::vector<std::string>& tags, const TagsQuery& query)
{
    auto begin = tags.begin();
    if (!query.last.empty()) {
        begin = std::upper_bound(tags.begin(), tags.end(), query.last);
    }
    std::size_t left = static_cast<std::size_t>(tags.end() - begin);
    std::size_t count = query.has_n ? std::min(query.n, left) : left;
    TagsPage page;
    page.tags.reserve(count);
    for (auto it = begin; it != begin + static_cast<std::ptrdiff_t>(count);
         ++it) {
        page.tags.emplace_back(*it);
    }
    page.more = query.has_n && count > 0 && count < left;
    return page;
}

std::string tags_list_json(std::string_view name,
                           const std::vector<std::string_view>& tags)
{
    JsonPtr array = string_array(tags);
    JsonPtr root(json_object());
    if (!root ||
        json_object_set_new(root.get(), "name", lossy_json_string(name)) != 0 ||
        json_object_set(root.get(), "tags", array.get()) != 0) {
        throw std::bad_alloc();
    }
    std::string out = json_dump(root.get(), JSON_COMPACT | JSON_PRESERVE_ORDER);
    out.push_back('\n');
    return out;
}

std::string tags_next_link(std::string_view name, std::size_t n,
                           std::string_view last)
{
    std::string link = "</v2/";
    link += name;
    link += "/tags/list?n=";
    link += std::to_string(n);
    link += "&last=";
    link += last;
    link += ">; rel=\"next\"";
    return link;
}

} // namespace nixery
