#include "ngx/stats.h"

#include "ngx/module.h"
#include "ngx/response.h"

#include <array>
#include <atomic>
#include <exception>
#include <new>
#include <string>
#include <string_view>

namespace nixery {

namespace {

// Requests by route: the RouteKinds, then `refused`.
constexpr std::string_view route_names[] = {
    "base",    "manifest_by_tag", "manifest_by_digest",
    "blob",    "tags_list",       "referrers",
    "unknown", "invalid",         "absent",
    "refused"};
constexpr std::size_t route_refused = std::size(route_names) - 1;
static_assert(static_cast<std::size_t>(RouteKind::absent) + 1 == route_refused);

// Responses by status code: the codes the registry answers, then "other".
constexpr ngx_uint_t codes[] = {200, 206, 304, 307, 400, 404, 405, 413,
                                414, 416, 429, 499, 500, 502, 503, 504};
constexpr std::size_t code_other = std::size(codes);

struct Counters {
    std::array<std::atomic<std::int64_t>,
               static_cast<std::size_t>(Stat::count_)>
        values{};
    std::array<std::atomic<std::int64_t>, std::size(route_names)> routes{};
    std::array<std::atomic<std::int64_t>, code_other + 1> codes{};
};
static_assert(std::atomic<std::int64_t>::is_always_lock_free,
              "counters in shared memory must not need a lock");

constexpr const char* names[] = {
    "tag_hits",    "tag_misses",      "waiting",         "waited",
    "built",       "failed",          "timed_out",       "unavailable",
    "rejected",    "queue_full",      "redis_workers",   "tags_listed",
    "tags_absent", "tags_unreadable", "tags_unavailable"};
static_assert(std::size(names) == static_cast<std::size_t>(Stat::count_));

// The counters in Prometheus's names. Consecutive rows with the same name
// are one family (its HELP and TYPE come from the first row).
struct PromRow {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    std::string_view labels; // "" or `result="built"`
    Stat stat;
};
constexpr PromRow prom_rows[] = {
    {"nixery_tag_hits_total", "counter",
     "Manifests by tag answered from storage at once.", "", Stat::tag_hits},
    {"nixery_tag_misses_total", "counter",
     "Manifests by tag that went to the build queue.", "", Stat::tag_misses},
    {"nixery_waiting_requests", "gauge", "Requests waiting for a build now.",
     "", Stat::waiting},
    {"nixery_waited_requests_total", "counter",
     "Requests that waited for a build.", "", Stat::waited},
    {"nixery_waits_ended_total", "counter",
     "Waits for a build by how they ended: the image, the build's error, "
     "nixery_wait_timeout.",
     "result=\"built\"", Stat::built},
    {"nixery_waits_ended_total", "", "", "result=\"failed\"", Stat::failed},
    {"nixery_waits_ended_total", "", "", "result=\"timed_out\"",
     Stat::timed_out},
    {"nixery_redis_unavailable_total", "counter",
     "Answers 503 because Redis was unreachable.", "", Stat::unavailable},
    {"nixery_rejected_requests_total", "counter",
     "Requests nginx refused before routing (nixery_rejected answers).", "",
     Stat::rejected},
    {"nixery_queue_full_total", "counter",
     "Answers 429 because the build queue was full.", "", Stat::queue_full},
    {"nixery_redis_connected_workers", "gauge",
     "Worker processes with both Redis connections up.", "",
     Stat::redis_workers},
    {"nixery_tags_reads_total", "counter",
     "tags/list reads of the helpers' list of tags (nixery_tags git) by "
     "what they gave; all but listed answer latest alone.",
     "result=\"listed\"", Stat::tags_listed},
    {"nixery_tags_reads_total", "", "", "result=\"absent\"", Stat::tags_absent},
    {"nixery_tags_reads_total", "", "", "result=\"unreadable\"",
     Stat::tags_unreadable},
    {"nixery_tags_reads_total", "", "", "result=\"unavailable\"",
     Stat::tags_unavailable},
};

// Set in the master when the zone is initialised; workers inherit it.
Counters* counters = nullptr;

ngx_int_t init_zone(ngx_shm_zone_t* zone, void* data) noexcept
{
    if (data != nullptr) {
        // A reload: the previous cycle's counters carry on.
        zone->data = data;
        counters = static_cast<Counters*>(data);
        return NGX_OK;
    }
    auto* pool = reinterpret_cast<ngx_slab_pool_t*>(zone->shm.addr);
    if (zone->shm.exists) {
        zone->data = pool->data;
        counters = static_cast<Counters*>(pool->data);
        return NGX_OK;
    }
    void* mem = ngx_slab_calloc(pool, sizeof(Counters));
    if (mem == nullptr) {
        return NGX_ERROR;
    }
    counters = new (mem) Counters{};
    pool->data = counters;
    zone->data = counters;
    return NGX_OK;
}

std::int64_t load(const std::atomic<std::int64_t>& v) noexcept
{
    return v.load(std::memory_order_relaxed);
}

std::int64_t stat_value(std::size_t i) noexcept
{
    return counters ? load(counters->values[i]) : 0;
}

std::string render_json()
{
    std::string body = "{";
    for (std::size_t i = 0; i < std::size(names); ++i) {
        body += i ? ",\"" : "\"";
        body += names[i];
        body += "\":";
        body += std::to_string(stat_value(i));
    }
    body += "}\n";
    return body;
}

void family_header(std::string& out, std::string_view name,
                   std::string_view type, std::string_view help)
{
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels,
            std::int64_t value)
{
    out.append(name);
    if (!labels.empty()) {
        out.append("{").append(labels).append("}");
    }
    out.append(" ").append(std::to_string(value)).append("\n");
}

// Prometheus's text exposition format, version 0.0.4.
std::string render_prometheus()
{
    std::string out;
    out.reserve(4096);
    for (const PromRow& row : prom_rows) {
        if (!row.type.empty()) {
            family_header(out, row.name, row.type, row.help);
        }
        sample(out, row.name, row.labels,
               stat_value(static_cast<std::size_t>(row.stat)));
    }
    family_header(out, "nixery_requests_total", "counter",
                  "Registry requests by route (refused: a method other than "
                  "GET and HEAD).");
    for (std::size_t i = 0; i < std::size(route_names); ++i) {
        sample(out, "nixery_requests_total",
               "route=\"" + std::string(route_names[i]) + "\"",
               counters ? load(counters->routes[i]) : 0);
    }
    family_header(out, "nixery_responses_total", "counter",
                  "Responses of nixery locations by HTTP status code.");
    for (std::size_t i = 0; i <= code_other; ++i) {
        sample(out, "nixery_responses_total",
               i == code_other ? std::string("code=\"other\"")
                               : "code=\"" + std::to_string(codes[i]) + "\"",
               counters ? load(counters->codes[i]) : 0);
    }
    return out;
}

template <bool prometheus>
ngx_int_t status_handler(ngx_http_request_t* r) noexcept
try {
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }
    std::string body = prometheus ? render_prometheus() : render_json();
    // Counters change all the time.
    r->headers_out.last_modified_time = -1;
    if (add_header(r, ngx_string("Cache-Control"), ngx_string("no-store")) ==
        nullptr) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (prometheus) {
        return send_json(r, NGX_HTTP_OK, body,
                         "text/plain; version=0.0.4; charset=utf-8");
    }
    return send_json(r, NGX_HTTP_OK, body);
} catch (const std::exception& e) {
    return fail_request(r, "rendering the counters", e.what());
} catch (...) {
    return fail_request(r, "rendering the counters", "unknown exception");
}

std::size_t code_index(ngx_uint_t status) noexcept
{
    for (std::size_t i = 0; i < code_other; ++i) {
        if (codes[i] == status) {
            return i;
        }
    }
    return code_other;
}

// Log phase: one relaxed atomic add per response of a `nixery` location.
ngx_int_t log_handler(ngx_http_request_t* r) noexcept
{
    if (counters == nullptr || r != r->main || !loc_conf(r)->enable) {
        return NGX_OK;
    }
    // As the access log reads the status.
    ngx_uint_t status =
        r->err_status != 0 ? r->err_status : r->headers_out.status;
    counters->codes[code_index(status)].fetch_add(1, std::memory_order_relaxed);
    return NGX_OK;
}

} // namespace

void stat_add(Stat s, std::int64_t delta) noexcept
{
    if (counters != nullptr) {
        counters->values[static_cast<std::size_t>(s)].fetch_add(
            delta, std::memory_order_relaxed);
    }
}

void stat_route(RouteKind kind) noexcept
{
    if (counters != nullptr) {
        counters->routes[static_cast<std::size_t>(kind)].fetch_add(
            1, std::memory_order_relaxed);
    }
}

void stat_route_refused() noexcept
{
    if (counters != nullptr) {
        counters->routes[route_refused].fetch_add(1, std::memory_order_relaxed);
    }
}

char* set_status(ngx_conf_t* cf, ngx_command_t*, void*) noexcept
{
    bool prometheus = false;
    if (cf->args->nelts == 2) {
        auto* value = static_cast<ngx_str_t*>(cf->args->elts);
        std::string_view format(reinterpret_cast<char*>(value[1].data),
                                value[1].len);
        if (format == "prometheus") {
            prometheus = true;
        } else if (format != "json") {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"nixery_status\" takes \"json\" or "
                               "\"prometheus\", not \"%V\"",
                               &value[1]);
            return static_cast<char*>(NGX_CONF_ERROR);
        }
    }
    static ngx_str_t name = ngx_string("nixery_status");
    // Big enough for nginx's slab pool; the counters take a few bytes.
    ngx_shm_zone_t* zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                                 &ngx_http_nixery_module);
    if (zone == nullptr) {
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    zone->init = init_zone;
    return set_location_handler(cf, prometheus ? status_handler<true>
                                               : status_handler<false>);
}

ngx_int_t stats_init_log_phase(ngx_conf_t* cf) noexcept
{
    auto* cmcf = static_cast<ngx_http_core_main_conf_t*>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    auto* h = static_cast<ngx_http_handler_pt*>(
        ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers));
    if (h == nullptr) {
        return NGX_ERROR;
    }
    *h = log_handler;
    return NGX_OK;
}

} // namespace nixery
