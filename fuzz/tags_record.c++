// The helpers' list of tags read from Redis (parse_tags_record()) and the
// tags/list query string (parse_tags_query()), then a page of the list
// (page_tags()), its body and its Link, as serve_tags_list() does. The
// input is the record, then a NUL, then the query string.
// Properties: the names are sorted, unique, listable tags, at most
// max_listed_tags, and format(parse(x)) parses back to them; a page is a
// run of the served tags after `last`, at most `n`, with `more` exactly
// when tags remain after it; the body is JSON naming the name.
#include "fuzz.h"

#include "image_request.h"
#include "json.h"
#include "tag_list.h"

#include <jansson.h>

#include <algorithm>

using namespace nixery;

NIXERY_FUZZ_TARGET
{
    std::string_view in = fuzz::bytes(data, size);
    std::size_t nul = in.find('\0');
    std::string_view record = in.substr(0, nul);
    std::string_view args =
        nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);

    std::vector<std::string> names;
    if (auto parsed = parse_tags_record(record)) {
        names = std::move(*parsed);
        require(names.size() <= max_listed_tags);
        require(std::adjacent_find(names.begin(), names.end(),
                                   [](const auto& a, const auto& b) {
                                       return !(a < b);
                                   }) == names.end());
        for (const std::string& n : names) {
            require(listable_ref(n));
        }
        auto again = parse_tags_record(format_tags_record(names, "h", 1));
        require(again.has_value() && *again == names);
    }

    TagsQuery q = parse_tags_query(args);
    if (!q.error.empty()) {
        return 0;
    }
    require(q.last.empty() || valid_tag(q.last));
    std::vector<std::string> tags = served_tags(names);
    require(std::binary_search(tags.begin(), tags.end(), "latest"));
    TagsPage page = page_tags(tags, q);
    auto first = q.last.empty()
                     ? tags.begin()
                     : std::upper_bound(tags.begin(), tags.end(), q.last);
    std::size_t left = static_cast<std::size_t>(tags.end() - first);
    require(page.tags.size() <= left);
    require(!q.has_n || page.tags.size() <= q.n);
    require(q.has_n || page.tags.size() == left);
    for (std::size_t i = 0; i < page.tags.size(); ++i) {
        require(page.tags[i] == first[static_cast<std::ptrdiff_t>(i)]);
    }
    require(page.more == (q.has_n && q.n > 0 && page.tags.size() < left));

    std::string body = tags_list_json("x", page.tags);
    JsonPtr j(json_loadb(body.data(), body.size(), 0, nullptr));
    require(j != nullptr);
    require(json_array_size(json_object_get(j.get(), "tags")) ==
            page.tags.size());
    if (page.more) {
        std::string link = tags_next_link("x", q.n, page.tags.back());
        require(link.starts_with("</v2/x/tags/list?n="));
    }
    return 0;
}
