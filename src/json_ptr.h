// Owning pointer for jansson values: one decref when it goes out of scope.
#pragma once

#include <jansson.h>

#include <memory>

namespace nixery {

struct JsonDeleter {
    void operator()(json_t* j) const noexcept { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDeleter>;

} // namespace nixery
