// The registry's error table: one place mapping each error code to its HTTP
// status and default message, and the spec's JSON rendering of an error:
//
//     {"errors":[{"code":"...","message":"...","detail":...}]}
//
// Every error the module or the helper reports goes through this table, so
// codes, statuses and messages agree everywhere.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nixery {

enum class ErrorCode {
    blob_unknown,
    digest_invalid,
    manifest_unknown,
    name_invalid,
    name_unknown,
    tag_invalid,
    unsupported,
    too_many_requests, // the build queue is full (nixery_queue_max_length)
    unavailable,       // the build queue is down, or the build is still running
    unknown,           // build failures and internal errors
};

struct ErrorInfo {
    ErrorCode code;
    std::string_view name; // as in the spec, e.g. "MANIFEST_UNKNOWN"
    int status;            // HTTP status
    std::string_view message;
};

const ErrorInfo& error_info(ErrorCode code) noexcept;

// Look an error up by its spec name; nullopt when unknown.
std::optional<ErrorCode> error_code_from_name(std::string_view name) noexcept;

// The JSON body. An empty `message` uses the table's message; an empty
// `detail` omits the field. `message` and `detail` may hold any bytes (a
// build's output): they go through lossy_utf8() (json.h), so the body is
// valid JSON with no NUL whatever they hold.
std::string error_json(ErrorCode code, std::string_view message = {},
                       std::string_view detail = {});

} // namespace nixery
