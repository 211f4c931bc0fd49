#include "ngx/worker.h"

#include "ngx/module.h"

#include <new>

namespace nixery {

namespace {

// A plain pointer: no global object with a constructor or destructor.
WorkerState* state = nullptr;

} // namespace

std::string RequestKeyMemo::memo_key(std::string_view name,
                                     std::string_view tag)
{
    std::string k;
    k.reserve(name.size() + 1 + tag.size());
    k.append(name);
    k.push_back('\0');
    k.append(tag);
    return k;
}

const std::string* RequestKeyMemo::find(std::string_view name,
                                        std::string_view tag) const
{
    if (keys_.empty()) {
        return nullptr;
    }
    auto it = keys_.find(memo_key(name, tag));
    return it == keys_.end() ? nullptr : &it->second;
}

void RequestKeyMemo::put(std::string_view name, std::string_view tag,
                         std::string key)
{
    if (max_ == 0) {
        return;
    }
    if (keys_.size() >= max_) {
        keys_.clear();
    }
    keys_.emplace(memo_key(name, tag), std::move(key));
}

WorkerState* worker_state() noexcept
{
    return state;
}

ngx_int_t init_worker_state(ngx_cycle_t* cycle) noexcept
try {
    ngx_uint_t max = 0;
    time_t valid = 0;
    if (cycle->conf_ctx[ngx_http_module.index] != nullptr) {
        auto* mcf = static_cast<MainConf*>(
            ngx_http_cycle_get_module_main_conf(cycle, ngx_http_nixery_module));
        if (mcf != nullptr) {
            max = mcf->index_cache_max;
            valid = mcf->index_cache_valid;
        }
    }
    state = new WorkerState{IndexCache(max, valid), RequestKeyMemo(max)};
    return NGX_OK;
} catch (...) {
    ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                  "nixery: cannot create the worker state");
    return NGX_ERROR;
}

void exit_worker_state() noexcept
{
    delete state;
    state = nullptr;
}

} // namespace nixery
