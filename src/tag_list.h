// What /v2/<name>/tags/list answers: the tags the manifest routes serve, in
// pages (docs/directives.md, "tags/list").
//
// Under `nixery_tags latest` that is `latest` alone. Under `nixery_tags
// git` it is `latest` and the package repository's branches and git tags,
// which only a helper can list (it runs git): each helper on a git source
// publishes the names it serves to Redis (tags_key, a record made by
// format_tags_record()), and the module reads them back with one GET on its
// command connection (src/ngx/tags.h) and parse_tags_record(). A record
// that is absent, expired or unreadable leaves `latest` alone, which is
// always true.
//
// Pagination is the distribution spec's: `?n=<count>` returns at most that
// many tags in lexical (byte) order, `?last=<tag>` those after it, and a
// page that stops before the end carries `Link: <...>; rel="next"` to the
// next one. No nginx headers: the unit tests and the fuzzers link this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

// The Redis key holding the helpers' record of the tags they serve.
inline constexpr std::string_view tags_key = "nixery:tags";

// The most names a record holds (a writer drops the rest, a reader ignores
// them), and the longest record a reader takes: bounded work and memory
// for the worker whatever Redis holds.
inline constexpr std::size_t max_listed_tags = 10000;
inline constexpr std::size_t max_tags_record_size = 2 * 1024 * 1024;

// Whether a branch or git tag of the repository is listed as an image tag:
// it must be a tag the manifest route accepts (valid_tag() in
// image_request.h: no '/', at most 128 bytes), and not 40 lowercase hex
// digits, which the manifest route reads as a commit, not as that ref.
bool listable_ref(std::string_view name) noexcept;

// The record a helper stores under tags_key, compact JSON:
//   {"v":1,"helper":"<id>","listed_ms":<unix ms>,"tags":["main","v1.0"]}
// `tags` holds the listable_ref() names of `names`, sorted and unique, at
// most max_listed_tags of them. `helper` goes through lossy_utf8().
std::string format_tags_record(const std::vector<std::string>& names,
                               std::string_view helper, std::int64_t listed_ms);

// The names of a record: sorted, unique, listable_ref() only (others are
// skipped), at most max_listed_tags. nullopt when `text` is not such a
// record (not JSON, another version, no "tags" array, longer than
// max_tags_record_size).
std::optional<std::vector<std::string>>
parse_tags_record(std::string_view text);

// The tags a location lists: `latest` and `refs`, sorted byte-wise,
// without repeats.
std::vector<std::string> served_tags(std::vector<std::string> refs);

// The pagination parameters of a tags/list query string (without '?').
struct TagsQuery {
    bool has_n = false;
    std::size_t n = 0; // with has_n; values past SIZE_MAX saturate
    std::string last;  // empty: from the start
    std::string error; // not empty: 400, with this as the detail
};

// `n` must be digits (a non-negative integer); `last` a valid_tag(), after
// %XX decoding. An empty value is no value; the first of a repeated
// parameter counts; other parameters are ignored.
TagsQuery parse_tags_query(std::string_view args);

// One page of `tags` (sorted, unique): those after `last`, at most `n`.
// `more` when tags remain after the page (never for n = 0: the spec's
// empty answer has no Link).
struct TagsPage {
    std::vector<std::string_view> tags;
    bool more = false;
};
TagsPage page_tags(const std::vector<std::string>& tags,
                   const TagsQuery& query);

// The body: {"name":"<name>","tags":[...]} and a newline.
std::string tags_list_json(std::string_view name,
                           const std::vector<std::string_view>& tags);

// The Link header's value for the page after one ending at `last`, as a
// path on this registry: </v2/<name>/tags/list?n=<n>&last=<last>>;
// rel="next". `name` is valid_name() and `last` valid_tag(): nothing in it
// needs escaping.
std::string tags_next_link(std::string_view name, std::size_t n,
                           std::string_view last);

} // namespace nixery
