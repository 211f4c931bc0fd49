// Build results read from Redis (announced or stored): parse_result().
// Properties: as for jobs, format(parse(x)) reads back as parse(x) with its
// strings through lossy_utf8() (an ok result without its failure fields),
// and the error body a waiting client gets is JSON naming a known code.
#include "fuzz.h"

#include "digest.h"
#include "errors.h"
#include "json.h"
#include "queue_schema.h"

#include <jansson.h>

using namespace nixery;

NIXERY_FUZZ_TARGET
{
    std::string_view in = fuzz::bytes(data, size);
    auto result = queue::parse_result(in);
    if (!result) {
        return 0;
    }
    require(is_sha256_hex(result->key));
    std::string text = queue::format_result(*result);
    auto again = queue::parse_result(text);
    require(again.has_value());
    queue::Result expected;
    expected.key = result->key;
    expected.ok = result->ok;
    if (!result->ok) {
        expected.code = result->code;
        expected.message = lossy_utf8(result->message);
        expected.detail = lossy_utf8(result->detail);
        for (const std::string& u : result->unknown) {
            expected.unknown.push_back(lossy_utf8(u));
        }
    }
    require(*again == expected);
    require(queue::format_result(*again) == text);

    if (!result->ok) {
        std::string body = queue::result_error_json(*result);
        JsonPtr j(json_loadb(body.data(), body.size(), 0, nullptr));
        require(j != nullptr);
        json_t* code = json_object_get(
            json_array_get(json_object_get(j.get(), "errors"), 0), "code");
        require(json_is_string(code) &&
                error_code_from_name(json_string_value(code)).has_value());
    }
    return 0;
}
