// The one place that includes nginx's C headers into C++.
//
// Every nginx-facing file includes this wrapper instead of the nginx headers,
// so the extern "C" block and the warnings nginx's macros trip in C++ are
// handled once.
#pragma once

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
}
#pragma GCC diagnostic pop
