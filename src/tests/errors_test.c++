#include "errors.h"
#include "json.h"

#include <gtest/gtest.h>
#include <jansson.h>

#include <memory>
#include <set>

namespace nixery {
namespace {

JsonPtr parse(const std::string& text)
{
    json_error_t err;
    JsonPtr j(json_loadb(text.data(), text.size(), JSON_ALLOW_NUL, &err));
    EXPECT_TRUE(j) << err.text << ": " << text;
    return j;
}

// The one error object inside {"errors":[...]}.
json_t* only_error(json_t* root)
{
    json_t* errors = json_object_get(root, "errors");
    EXPECT_TRUE(json_is_array(errors));
    EXPECT_EQ(json_array_size(errors), 1u);
    return json_array_get(errors, 0);
}

TEST(Errors, TableMatchesSpec)
{
    struct Row {
        ErrorCode code;
        const char* name;
        int status;
    };
    for (Row row : {Row{ErrorCode::blob_unknown, "BLOB_UNKNOWN", 404},
                    Row{ErrorCode::digest_invalid, "DIGEST_INVALID", 400},
                    Row{ErrorCode::manifest_unknown, "MANIFEST_UNKNOWN", 404},
                    Row{ErrorCode::name_invalid, "NAME_INVALID", 400},
                    Row{ErrorCode::name_unknown, "NAME_UNKNOWN", 404},
                    Row{ErrorCode::tag_invalid, "TAG_INVALID", 400},
                    Row{ErrorCode::unsupported, "UNSUPPORTED", 405},
                    Row{ErrorCode::too_many_requests, "TOOMANYREQUESTS", 429},
                    Row{ErrorCode::unavailable, "UNAVAILABLE", 503},
                    Row{ErrorCode::unknown, "UNKNOWN", 500}}) {
        const ErrorInfo& info = error_info(row.code);
        EXPECT_EQ(info.code, row.code);
        EXPECT_EQ(info.name, row.name);
        EXPECT_EQ(info.status, row.status) << row.name;
        EXPECT_FALSE(info.message.empty());
        EXPECT_EQ(error_code_from_name(row.name), row.code);
    }
    EXPECT_EQ(error_code_from_name("NOPE"), std::nullopt);
}

TEST(Errors, JsonShape)
{
    JsonPtr j = parse(error_json(ErrorCode::manifest_unknown));
    json_t* e = only_error(j.get());
    EXPECT_STREQ(json_string_value(json_object_get(e, "code")),
                 "MANIFEST_UNKNOWN");
    EXPECT_STREQ(json_string_value(json_object_get(e, "message")),
                 "manifest unknown");
    EXPECT_EQ(json_object_get(e, "detail"), nullptr);

    j = parse(error_json(ErrorCode::name_invalid, "custom", "why"));
    e = only_error(j.get());
    EXPECT_STREQ(json_string_value(json_object_get(e, "message")), "custom");
    EXPECT_STREQ(json_string_value(json_object_get(e, "detail")), "why");
}

TEST(Errors, HostileDetailStaysValidJson)
{
    static constexpr char raw[] =
        "quote\" backslash\\ nul\0 ctl\x01 bad\xff\xfe end";
    std::string nasty(raw, sizeof raw - 1);
    JsonPtr j = parse(error_json(ErrorCode::unknown, {}, nasty));
    json_t* e = only_error(j.get());
    json_t* d = json_object_get(e, "detail");
    std::string detail(json_string_value(d), json_string_length(d));
    // The NUL and the invalid bytes as U+FFFD; the rest as it was.
    EXPECT_EQ(detail, "quote\" backslash\\ nul\xef\xbf\xbd ctl\x01 "
                      "bad\xef\xbf\xbd\xef\xbf\xbd end");
}

TEST(Errors, BodyHasNoNulForStrictReaders)
{
    std::string body = error_json(ErrorCode::unknown, std::string("m\0", 2),
                                  std::string("before\0after", 12));
    EXPECT_EQ(body.find("\\u0000"), std::string::npos) << body;
    JsonPtr j(json_loadb(body.data(), body.size(), 0, nullptr));
    ASSERT_TRUE(j) << body;
    json_t* e = only_error(j.get());
    EXPECT_STREQ(json_string_value(json_object_get(e, "detail")),
                 "before\xef\xbf\xbd"
                 "after");
}

} // namespace
} // namespace nixery
