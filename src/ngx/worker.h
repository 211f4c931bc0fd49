// State each nginx worker owns: made in init_process, destroyed in
// exit_process (never at configuration time, so the master holds none of
// it and nothing is shared across fork). Only the worker's own event loop
// touches it.
#pragma once

#include "ngx/ngx.h"

#include "index_cache.h"
#include "key_memo.h"

namespace nixery {

struct WorkerState {
    IndexCache index_cache;
    KeyMemo request_keys;
};

// The calling worker's state; nullptr before init_process (configuration
// tests, the master) or when it could not be made.
WorkerState* worker_state() noexcept;

// `nixery_index_cache max=N [valid=time] | off`; lives in the module's
// main conf.
struct IndexCacheConf {
    ngx_uint_t max; // entries per worker; 0 = off
    time_t valid;   // seconds an entry read from disk is reused
};

// Set every field unset (create_main_conf) / apply the defaults
// (init_main_conf).
void index_cache_conf_create(IndexCacheConf* conf) noexcept;
void index_cache_conf_init(IndexCacheConf* conf) noexcept;

// The `nixery_index_cache` directive; `cmd->offset` is the offset of the
// IndexCacheConf in the main conf.
char* index_cache_set(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept;

// Per worker: make (init_process) and destroy (exit_process) the state.
ngx_int_t worker_init_process(ngx_cycle_t* cycle,
                              const IndexCacheConf* conf) noexcept;
void worker_exit_process(ngx_cycle_t* cycle) noexcept;

} // namespace nixery
