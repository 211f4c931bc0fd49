// Build jobs read from the Redis stream: parse_job(). Properties: a job
// read has a 64-hex key; the writer writes it, and that reads back as the
// job with its strings through lossy_utf8() (format_job() in
// queue_schema.h); a second round changes nothing.
#include "fuzz.h"

#include "digest.h"
#include "json.h"
#include "queue_schema.h"

using namespace nixery;

NIXERY_FUZZ_TARGET
{
    std::string_view in = fuzz::bytes(data, size);
    auto job = queue::parse_job(in);
    if (!job) {
        return 0;
    }
    require(is_sha256_hex(job->key));
    std::string text = queue::format_job(*job);
    auto again = queue::parse_job(text);
    require(again.has_value());
    queue::Job expected = *job;
    expected.name = lossy_utf8(expected.name);
    expected.tag = lossy_utf8(expected.tag);
    require(*again == expected);
    require(queue::format_job(*again) == text);
    return 0;
}
