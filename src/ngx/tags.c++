// tags/list (tags.h): the answer, and the helpers' list read from Redis on
// the queue's command connection.
#include "ngx/tags.h"

#include "ngx/module.h"
#include "ngx/queue_client.h"
#include "ngx/response.h"
#include "ngx/stats.h"

#include "routes.h"
#include "tag_list.h"

#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace nixery {

namespace {

std::string_view request_args(ngx_http_request_t* r) noexcept
{
    return {reinterpret_cast<char*>(r->args.data), r->args.len};
}

// The page `query` asks for of `latest` and `refs`, with a Link header
// when more follow.
ngx_int_t send_tags(ngx_http_request_t* r, std::string_view name,
                    const TagsQuery& query, std::vector<std::string> refs)
{
    std::vector<std::string> tags = served_tags(std::move(refs));
    TagsPage page = page_tags(tags, query);
    std::string body = tags_list_json(name, page.tags);
    if (page.more) {
        std::string link = tags_next_link(name, query.n, page.tags.back());
        auto* p = static_cast<u_char*>(ngx_pnalloc(r->pool, link.size()));
        if (p == nullptr) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        std::memcpy(p, link.data(), link.size());
        ngx_str_t value{link.size(), p};
        if (add_header(r, ngx_string("Link"), value) == nullptr) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return send_json(r, NGX_HTTP_OK, body);
}

// What the GET of the list returned: its names, or none (logged when that
// is not simply an absent key).
std::vector<std::string> names_from(ngx_http_request_t* r,
                                    const redisReply* reply)
{
    ngx_log_t* log = r->connection->log;
    if (reply->type == REDIS_REPLY_NIL) {
        stat_add(Stat::tags_absent);
        return {}; // no helper on a git source has published one (yet)
    }
    if (reply->type == REDIS_REPLY_STRING) {
        std::optional<std::vector<std::string>> names =
            parse_tags_record({reply->str, reply->len});
        if (names) {
            stat_add(Stat::tags_listed);
            return std::move(*names);
        }
    }
    stat_add(Stat::tags_unreadable);
    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "nixery: redis refused to read the list of tags: %*s",
                      reply->len, reply->str);
    } else {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "nixery: the list of tags in redis (%s) could not be "
                      "read: tags/list names latest alone",
                      tags_key.data());
    }
    return {};
}

// What a parked tags/list request needs when the list comes: its name and
// its query, parsed once, copied into r->pool.
struct TagsRead {
    const char* name;
    std::size_t name_len;
    bool has_n;
    std::size_t n;
    const char* last;
    std::size_t last_len;
};
static_assert(std::is_trivially_destructible_v<TagsRead>);

// Copies `s` into r->pool; nullptr when it cannot.
const char* pool_copy(ngx_http_request_t* r, std::string_view s) noexcept
{
    auto* p = static_cast<char*>(ngx_pnalloc(r->pool, s.size() + 1));
    if (p != nullptr) {
        std::memcpy(p, s.data(), s.size());
    }
    return p;
}

// Answer a parked request: with the list in `reply`, or `latest` alone
// when there is none (reply nullptr: the connection went down).
ngx_int_t answer_tags(ngx_http_request_t* r, void* data,
                      const redisReply* reply) noexcept
try {
    const auto* t = static_cast<const TagsRead*>(data);
    TagsQuery query;
    query.has_n = t->has_n;
    query.n = t->n;
    query.last.assign(t->last, t->last_len);
    std::vector<std::string> names;
    if (reply != nullptr) {
        names = names_from(r, reply);
    } else {
        stat_add(Stat::tags_unavailable);
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "nixery: redis went away before the list of tags came: "
                      "tags/list names latest alone");
    }
    return send_tags(r, {t->name, t->name_len}, query, std::move(names));
} catch (const std::exception& e) {
    return fail_request(r, "listing tags", e.what());
} catch (...) {
    return fail_request(r, "listing tags", "unknown exception");
}

} // namespace

ngx_int_t serve_tags_list(ngx_http_request_t* r, std::string_view name) noexcept
try {
    TagsQuery query = parse_tags_query(request_args(r));
    if (!query.error.empty()) {
        return send_error(r, ErrorCode::unsupported, query.error,
                          NGX_HTTP_BAD_REQUEST);
    }
    auto policy = static_cast<TagPolicy>(loc_conf(r)->tags);
    if (policy != TagPolicy::git) {
        return send_tags(r, name, query, {});
    }
    if (worker_queue == nullptr || !worker_queue->ready()) {
        stat_add(Stat::tags_unavailable);
        return send_tags(r, name, query, {});
    }
    auto* t = static_cast<TagsRead*>(ngx_palloc(r->pool, sizeof(TagsRead)));
    const char* name_copy = pool_copy(r, name);
    const char* last_copy = pool_copy(r, query.last);
    if (t == nullptr || name_copy == nullptr || last_copy == nullptr) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    *t = {name_copy, name.size(), query.has_n,
          query.n,   last_copy,   query.last.size()};
    return worker_queue->park_read(r, format_command({"GET", tags_key}),
                                   answer_tags, t);
} catch (const std::exception& e) {
    return fail_request(r, "listing tags", e.what());
} catch (...) {
    return fail_request(r, "listing tags", "unknown exception");
}

} // namespace nixery
