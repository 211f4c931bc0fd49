// The build queue's directives (queue.h): nixery_redis, nixery_redis_auth,
// and the defaults of the timeouts and of the queue's maximum length, set by
// nginx's own slot functions.
#include "ngx/queue.h"

namespace nixery {

namespace {

// Jobs queued or running at once, across every worker and host sharing the
// Redis. A helper builds an uncached image in tens of seconds, so a few
// helpers get through about this many within nixery_wait_timeout (120 s);
// jobs beyond that would mostly build for clients that have given up.
constexpr ngx_int_t default_max_length = 100;

} // namespace

void queue_conf_create(QueueConf* conf) noexcept
{
    conf->redis = static_cast<ngx_addr_t*>(NGX_CONF_UNSET_PTR);
    conf->wait_timeout = NGX_CONF_UNSET_MSEC;
    conf->redis_timeout = NGX_CONF_UNSET_MSEC;
    conf->retry_after = NGX_CONF_UNSET;
    conf->max_length = NGX_CONF_UNSET;
}

void queue_conf_init(QueueConf* conf) noexcept
{
    if (conf->redis == NGX_CONF_UNSET_PTR) {
        conf->redis = nullptr;
    }
    if (conf->wait_timeout == NGX_CONF_UNSET_MSEC) {
        conf->wait_timeout = 120000;
    }
    if (conf->redis_timeout == NGX_CONF_UNSET_MSEC) {
        conf->redis_timeout = 5000;
    }
    if (conf->retry_after == NGX_CONF_UNSET) {
        conf->retry_after = 10;
    }
    if (conf->max_length == NGX_CONF_UNSET) {
        conf->max_length = default_max_length;
    }
}

char* queue_set_redis(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept
{
    auto* qc =
        reinterpret_cast<QueueConf*>(static_cast<char*>(conf) + cmd->offset);
    if (qc->redis != NGX_CONF_UNSET_PTR) {
        return const_cast<char*>("is duplicate");
    }
    auto* value = static_cast<ngx_str_t*>(cf->args->elts) + 1;
    if (value->len > 5 && ngx_strncmp(value->data, "unix:", 5) == 0) {
        ngx_url_t u{};
        u.url = *value;
        u.no_resolve = 1;
        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid redis socket \"%V\"%s%s", value,
                               u.err ? ": " : "", u.err ? u.err : "");
            return static_cast<char*>(NGX_CONF_ERROR);
        }
        qc->redis = &u.addrs[0];
        return NGX_CONF_OK;
    }
    auto* addr =
        static_cast<ngx_addr_t*>(ngx_pcalloc(cf->pool, sizeof(ngx_addr_t)));
    if (addr == nullptr) {
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    ngx_int_t rc = ngx_parse_addr_port(cf->pool, addr, value->data, value->len);
    if (rc != NGX_OK) {
        // Host names would need a resolver in the worker; refuse them.
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redis address \"%V\": an IP address "
                           "with a port, or unix:/path, is required",
                           value);
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    if (ngx_inet_get_port(addr->sockaddr) == 0) {
        ngx_inet_set_port(addr->sockaddr, 6379);
    }
    addr->name = *value;
    qc->redis = addr;
    return NGX_CONF_OK;
}

char* queue_set_redis_auth(ngx_conf_t* cf, ngx_command_t* cmd,
                           void* conf) noexcept
{
    auto* qc =
        reinterpret_cast<QueueConf*>(static_cast<char*>(conf) + cmd->offset);
    if (qc->auth_password.data != nullptr) {
        return const_cast<char*>("is duplicate");
    }
    auto* value = static_cast<ngx_str_t*>(cf->args->elts);
    if (cf->args->nelts == 3) {
        qc->auth_user = value[1];
        qc->auth_password = value[2];
    } else {
        qc->auth_password = value[1];
    }
    if (qc->auth_password.len == 0) {
        return const_cast<char*>("needs a password");
    }
    return NGX_CONF_OK;
}

} // namespace nixery
