#include "errors.h"
#include "json.h"

#include <jansson.h>

#include <array>

namespace nixery {

namespace {

constexpr std::array table{
    ErrorInfo{ErrorCode::blob_unknown, "BLOB_UNKNOWN", 404,
              "blob unknown to registry"},
    ErrorInfo{ErrorCode::digest_invalid, "DIGEST_INVALID", 400,
              "provided digest did not match uploaded content"},
    ErrorInfo{ErrorCode::manifest_unknown, "MANIFEST_UNKNOWN", 404,
              "manifest unknown"},
    ErrorInfo{ErrorCode::name_invalid, "NAME_INVALID", 400,
              "invalid repository name"},
    ErrorInfo{ErrorCode::name_unknown, "NAME_UNKNOWN", 404,
              "repository name not known to registry"},
    ErrorInfo{ErrorCode::tag_invalid, "TAG_INVALID", 400,
              "manifest tag did not match URI"},
    ErrorInfo{ErrorCode::unsupported, "UNSUPPORTED", 405,
              "the operation is unsupported"},
    ErrorInfo{ErrorCode::too_many_requests, "TOOMANYREQUESTS", 429,
              "too many requests"},
    ErrorInfo{ErrorCode::unavailable, "UNAVAILABLE", 503,
              "service unavailable"},
    ErrorInfo{ErrorCode::unknown, "UNKNOWN", 500, "unknown error"},
};

} // namespace

const ErrorInfo& error_info(ErrorCode code) noexcept
{
    for (const ErrorInfo& e : table) {
        if (e.code == code) {
            return e;
        }
    }
    return table.back();
}

std::optional<ErrorCode> error_code_from_name(std::string_view name) noexcept
{
    for (const ErrorInfo& e : table) {
        if (e.name == name) {
            return e.code;
        }
    }
    return std::nullopt;
}

std::string error_json(ErrorCode code, std::string_view message,
                       std::string_view detail)
{
    const ErrorInfo& info = error_info(code);
    JsonPtr err(json_object());
    json_object_set_new(err.get(), "code", lossy_json_string(info.name));
    json_object_set_new(
        err.get(), "message",
        lossy_json_string(message.empty() ? info.message : message));
    if (!detail.empty()) {
        json_object_set_new(err.get(), "detail", lossy_json_string(detail));
    }
    JsonPtr errors(json_array());
    json_array_append(errors.get(), err.get());
    JsonPtr root(json_object());
    json_object_set(root.get(), "errors", errors.get());
    std::string out = json_dump(root.get(), JSON_COMPACT | JSON_PRESERVE_ORDER);
    out.push_back('\n');
    return out;
}

} // namespace nixery
