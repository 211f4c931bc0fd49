#include "ngx/stats.h"

#include "ngx/module.h"
#include "ngx/response.h"

#include <array>
#include <atomic>
#include <exception>
#include <new>
#include <string>

namespace nixery {

namespace {

struct Counters {
    std::array<std::atomic<std::int64_t>,
               static_cast<std::size_t>(Stat::count_)>
        values{};
};
static_assert(std::atomic<std::int64_t>::is_always_lock_free,
              "counters in shared memory must not need a lock");

constexpr const char* names[] = {"tag_hits",   "tag_misses",   "waiting",
                                 "waited",     "built",        "failed",
                                 "timed_out",  "unavailable",  "rejected",
                                 "queue_full", "redis_workers"};
static_assert(std::size(names) == static_cast<std::size_t>(Stat::count_));

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

ngx_int_t status_handler(ngx_http_request_t* r) noexcept
try {
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }
    std::string body = "{";
    for (std::size_t i = 0; i < std::size(names); ++i) {
        std::int64_t v =
            counters ? counters->values[i].load(std::memory_order_relaxed) : 0;
        body += i ? ",\"" : "\"";
        body += names[i];
        body += "\":";
        body += std::to_string(v);
    }
    body += "}\n";
    // Counters change all the time.
    r->headers_out.last_modified_time = -1;
    if (add_header(r, ngx_string("Cache-Control"), ngx_string("no-store")) ==
        nullptr) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return send_json(r, NGX_HTTP_OK, body);
} catch (const std::exception& e) {
    return fail_request(r, "rendering the counters", e.what());
} catch (...) {
    return fail_request(r, "rendering the counters", "unknown exception");
}

} // namespace

void stat_add(Stat s, std::int64_t delta) noexcept
{
    if (counters != nullptr) {
        counters->values[static_cast<std::size_t>(s)].fetch_add(
            delta, std::memory_order_relaxed);
    }
}

char* set_status(ngx_conf_t* cf, ngx_command_t*, void*) noexcept
{
    static ngx_str_t name = ngx_string("nixery_status");
    // Big enough for nginx's slab pool; the counters take a few bytes.
    ngx_shm_zone_t* zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                                 &ngx_http_nixery_module);
    if (zone == nullptr) {
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    zone->init = init_zone;
    return set_location_handler(cf, status_handler);
}

} // namespace nixery
