#include "errors.h"
#include "json_ptr.h"

#include <jansson.h>

#include <array>
#include <memory>
#include <stdexcept>

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
    ErrorInfo{ErrorCode::unavailable, "UNAVAILABLE", 503,
              "service unavailable"},
    ErrorInfo{ErrorCode::unknown, "UNKNOWN", 500, "unknown error"},
};

json_t* string_or_throw(std::string_view s)
{
    // json_stringn rejects invalid UTF-8; replace such input so the error
    // still reaches the client.
    json_t* j = json_stringn(s.data(), s.size());
    if (j == nullptr) {
        std::string cleaned;
        for (char c : s) {
            cleaned.push_back(static_cast<unsigned char>(c) < 0x80 ? c : '?');
        }
        j = json_stringn(cleaned.data(), cleaned.size());
    }
    if (j == nullptr) {
        throw std::runtime_error("error_json: cannot encode string");
    }
    return j;
}

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
    json_object_set_new(err.get(), "code", string_or_throw(info.name));
    json_object_set_new(
        err.get(), "message",
        string_or_throw(message.empty() ? info.message : message));
    if (!detail.empty()) {
        json_object_set_new(err.get(), "detail", string_or_throw(detail));
    }
    JsonPtr errors(json_array());
    json_array_append(errors.get(), err.get());
    JsonPtr root(json_object());
    json_object_set(root.get(), "errors", errors.get());
    char* text = json_dumps(root.get(), JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == nullptr) {
        throw std::runtime_error("error_json: json_dumps failed");
    }
    std::string out(text);
    free(text);
    out.push_back('\n');
    return out;
}

} // namespace nixery
