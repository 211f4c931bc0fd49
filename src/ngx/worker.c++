#include "ngx/worker.h"

#include <exception>
#include <new>

namespace nixery {

namespace {

constexpr ngx_uint_t default_index_cache_max = 1000;
constexpr time_t default_index_cache_valid = 10;

// A plain pointer: no global object with a constructor or destructor.
WorkerState* state = nullptr;

} // namespace

WorkerState* worker_state() noexcept
{
    return state;
}

void index_cache_conf_create(IndexCacheConf* conf) noexcept
{
    conf->max = NGX_CONF_UNSET_UINT;
    conf->valid = NGX_CONF_UNSET;
}

void index_cache_conf_init(IndexCacheConf* conf) noexcept
{
    ngx_conf_init_uint_value(conf->max, default_index_cache_max);
    ngx_conf_init_value(conf->valid, default_index_cache_valid);
}

char* index_cache_set(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept
{
    auto* icf = reinterpret_cast<IndexCacheConf*>(static_cast<char*>(conf) +
                                                  cmd->offset);
    if (icf->max != NGX_CONF_UNSET_UINT) {
        return const_cast<char*>("is duplicate");
    }
    auto* args = static_cast<ngx_str_t*>(cf->args->elts);
    ngx_uint_t max = NGX_CONF_UNSET_UINT;
    time_t valid = default_index_cache_valid;
    bool ok = true;
    for (ngx_uint_t i = 1; ok && i < cf->args->nelts; ++i) {
        ngx_str_t& a = args[i];
        if (cf->args->nelts == 2 && a.len == 3 &&
            ngx_strncmp(a.data, "off", 3) == 0) {
            max = 0;
        } else if (a.len > 4 && ngx_strncmp(a.data, "max=", 4) == 0) {
            ngx_int_t n = ngx_atoi(a.data + 4, a.len - 4);
            ok = n != NGX_ERROR && n > 0;
            max = static_cast<ngx_uint_t>(n);
        } else if (a.len > 6 && ngx_strncmp(a.data, "valid=", 6) == 0) {
            ngx_str_t v = {a.len - 6, a.data + 6};
            valid = ngx_parse_time(&v, 1);
            ok = valid != static_cast<time_t>(NGX_ERROR) && valid > 0;
        } else {
            ok = false;
        }
    }
    if (!ok || max == NGX_CONF_UNSET_UINT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"nixery_index_cache\" parameters, "
                           "expected \"max=N [valid=time]\" or \"off\"");
        return static_cast<char*>(NGX_CONF_ERROR);
    }
    icf->max = max;
    icf->valid = valid;
    return NGX_CONF_OK;
}

ngx_int_t worker_init_process(ngx_cycle_t* cycle,
                              const IndexCacheConf* conf) noexcept
try {
    ngx_uint_t max = conf ? conf->max : 0;
    time_t valid = conf ? conf->valid : 0;
    state = new WorkerState{IndexCache(max, valid), KeyMemo(max)};
    return NGX_OK;
} catch (const std::exception& e) {
    ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                  "nixery: cannot create the worker state: %s", e.what());
    return NGX_ERROR;
} catch (...) {
    ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                  "nixery: cannot create the worker state: unknown exception");
    return NGX_ERROR;
}

void worker_exit_process(ngx_cycle_t*) noexcept
{
    delete state;
    state = nullptr;
}

} // namespace nixery
