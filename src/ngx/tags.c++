// tags/list (tags.h): the answer, and the helpers' list read from Redis on
// the queue's command connection.
#include "ngx/tags.h"

#include "ngx/module.h"
#include "ngx/queue_client.h"
#include "ngx/response.h"

#include "routes.h"
#include "tag_list.h"

#include <cstring>
#include <exception>
#include <optional>
#include <string>
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
        return {}; // no helper on a git source has published one (yet)
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "nixery: redis refused to read the list of tags: %*s",
                      reply->len, reply->str);
        return {};
    }
    if (reply->type == REDIS_REPLY_STRING) {
        std::optional<std::vector<std::string>> names =
            parse_tags_record({reply->str, reply->len});
        if (names) {
            return std::move(*names);
        }
    }
    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "nixery: the list of tags in redis (%s) could not be read: "
                  "tags/list names latest alone",
                  tags_key.data());
    return {};
}

// Answer a parked request: with the list in `reply`, or `latest` alone
// when there is none (reply nullptr: the connection went down).
ngx_int_t answer(TagsWait* w, const redisReply* reply) noexcept
try {
    ngx_http_request_t* r = w->r;
    // Checked when the request arrived.
    TagsQuery query = parse_tags_query(request_args(r));
    std::vector<std::string> names;
    if (reply != nullptr) {
        names = names_from(r, reply);
    }
    return send_tags(r, {w->name, w->name_len}, query, std::move(names));
} catch (const std::exception& e) {
    return fail_request(w->r, "listing tags", e.what());
} catch (...) {
    return fail_request(w->r, "listing tags", "unknown exception");
}

void tags_cleanup(void* data) noexcept
{
    auto* w = static_cast<TagsWait*>(data);
    if (worker_queue != nullptr && w->id != 0) {
        worker_queue->forget_tags(w);
    }
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
    if (policy == TagPolicy::git && worker_queue != nullptr &&
        worker_queue->ready()) {
        return worker_queue->read_tags(r, name);
    }
    return send_tags(r, name, query, {});
} catch (const std::exception& e) {
    return fail_request(r, "listing tags", e.what());
} catch (...) {
    return fail_request(r, "listing tags", "unknown exception");
}

ngx_int_t Queue::read_tags(ngx_http_request_t* r, std::string_view name)
{
    // Everything that can throw comes before the request is touched.
    std::string get = format_command({"GET", tags_key});
    auto* copy = static_cast<char*>(ngx_pnalloc(r->pool, name.size()));
    if (copy == nullptr) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    std::memcpy(copy, name.data(), name.size());
    std::uint64_t id = ++tags_seq_;
    tag_lists_.emplace(id, nullptr);
    ngx_http_cleanup_t* cln = ngx_http_cleanup_add(r, sizeof(TagsWait));
    if (cln == nullptr) {
        tag_lists_.erase(id);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    auto* w = static_cast<TagsWait*>(cln->data);
    w->r = r;
    w->id = id;
    w->name = copy;
    w->name_len = name.size();
    tag_lists_[id] = w;
    cln->handler = tags_cleanup;
    try {
        // Only what is sent has an entry: replies stay in step.
        pending_.push_back({Pending::Kind::tags, {}, id});
    } catch (...) {
        forget_tags(w);
        throw;
    }
    // Notice a client that goes away; write nothing until answered.
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;
    r->main->count++;
    cmd_.send(get, 1);
    return NGX_DONE;
}

void Queue::forget_tags(TagsWait* w) noexcept
{
    tag_lists_.erase(w->id);
    w->id = 0;
}

void Queue::on_tags_reply(std::uint64_t id, redisReply* reply) noexcept
{
    auto it = tag_lists_.find(id);
    if (it == tag_lists_.end()) {
        return; // the client went away
    }
    TagsWait* w = it->second;
    tag_lists_.erase(it);
    w->id = 0;
    ngx_http_request_t* r = w->r;
    ngx_connection_t* c = r->connection;
    ngx_http_finalize_request(r, answer(w, reply));
    ngx_http_run_posted_requests(c);
}

// The command connection is gone: no list will come, and `latest` is
// always served.
void Queue::fail_tags() noexcept
{
    while (!tag_lists_.empty()) {
        auto it = tag_lists_.begin();
        TagsWait* w = it->second;
        tag_lists_.erase(it);
        w->id = 0;
        ngx_http_request_t* r = w->r;
        ngx_connection_t* c = r->connection;
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "nixery: redis went away before the list of tags came: "
                      "tags/list names latest alone");
        ngx_http_finalize_request(r, answer(w, nullptr));
        ngx_http_run_posted_requests(c);
    }
}

} // namespace nixery
