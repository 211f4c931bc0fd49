#include "queue_schema.h"

#include <gtest/gtest.h>

#include <set>

namespace nixery::queue {
namespace {

const std::string key(64, 'a');

ImageRequest request(std::string_view name, std::string_view tag)
{
    ParseResult p = parse_image_request(name, tag);
    EXPECT_EQ(p.error, NameError::none);
    return p.request;
}

TEST(QueueSchema, KeyNames)
{
    EXPECT_EQ(inflight_key(key), "nixery:inflight:" + key);
    EXPECT_EQ(result_key(key), "nixery:result:" + key);
    EXPECT_EQ(heartbeat_key("host-1"), "nixery:helper:host-1");
    std::string u = unknown_key(Arch::amd64, "latest", "nosuch");
    EXPECT_EQ(u.rfind("nixery:unknown:", 0), 0u);
    EXPECT_EQ(u.size(), std::string("nixery:unknown:").size() + 64);
}

TEST(QueueSchema, UnknownKeysSeparateTagArchAndPackage)
{
    std::set<std::string> keys{
        unknown_key(Arch::amd64, "latest", "nosuch"),
        unknown_key(Arch::arm64, "latest", "nosuch"),
        unknown_key(Arch::amd64, "other", "nosuch"),
        unknown_key(Arch::amd64, "latest", "nosuch2"),
        // Without separators these two would be the same record.
        unknown_key(Arch::amd64, "ab", "c"),
        unknown_key(Arch::amd64, "a", "bc"),
    };
    EXPECT_EQ(keys.size(), 6u);
    EXPECT_EQ(unknown_key(Arch::amd64, "latest", "nosuch"),
              unknown_key(Arch::amd64, "latest", "nosuch"));
}

TEST(QueueSchema, JobRoundTripAndKey)
{
    ImageRequest r = request("shell/git", "latest");
    Job job = make_job(r, 1700000000123);
    EXPECT_EQ(job.key, canonical_key(r));
    EXPECT_EQ(job.name, "shell/git");
    EXPECT_EQ(job.tag, "latest");
    std::string text = format_job(job);
    EXPECT_EQ(text, "{\"v\":1,\"key\":\"" + job.key +
                        "\",\"name\":\"shell/git\",\"tag\":\"latest\","
                        "\"enqueued_ms\":1700000000123}");
    std::optional<Job> back = parse_job(text);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, job);
}

TEST(QueueSchema, JobRejectsMalformed)
{
    EXPECT_FALSE(parse_job(""));
    EXPECT_FALSE(parse_job("[]"));
    EXPECT_FALSE(parse_job("{\"v\":2,\"key\":\"" + key +
                           "\",\"name\":\"a\",\"tag\":\"b\","
                           "\"enqueued_ms\":1}"));
    EXPECT_FALSE(parse_job("{\"v\":1,\"key\":\"abc\",\"name\":\"a\","
                           "\"tag\":\"b\",\"enqueued_ms\":1}"));
    EXPECT_FALSE(parse_job("{\"v\":1,\"key\":\"" + key +
                           "\",\"name\":1,\"tag\":\"b\",\"enqueued_ms\":1}"));
    EXPECT_FALSE(parse_job("{\"v\":1,\"key\":\"" + key +
                           "\",\"name\":\"a\",\"tag\":\"b\"}"));
    EXPECT_TRUE(parse_job("{\"v\":1,\"key\":\"" + key +
                          "\",\"name\":\"a\",\"tag\":\"b\","
                          "\"enqueued_ms\":1}"));
}

TEST(QueueSchema, OkResult)
{
    Result r = ok_result(key);
    EXPECT_EQ(format_result(r),
              "{\"v\":1,\"key\":\"" + key + "\",\"ok\":true}");
    std::optional<Result> back = parse_result(format_result(r));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, r);
}

TEST(QueueSchema, UnknownPackagesNamesEveryOne)
{
    Result r = unknown_packages_result(key, {"nosuch", "othermissing"});
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.code, ErrorCode::manifest_unknown);
    EXPECT_EQ(r.message, "unknown packages: nosuch, othermissing");
    EXPECT_EQ(unknown_packages_result(key, {"x"}).message,
              "unknown package: x");
    std::optional<Result> back = parse_result(format_result(r));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, r);
    std::string body = result_error_json(r);
    EXPECT_NE(body.find("\"MANIFEST_UNKNOWN\""), std::string::npos);
    EXPECT_NE(body.find("nosuch, othermissing"), std::string::npos);
}

TEST(QueueSchema, FailureCarriesDetail)
{
    Result r = failure_result(key, "image build failed",
                              "error: builder for 'x.drv' failed");
    EXPECT_EQ(r.code, ErrorCode::unknown);
    std::optional<Result> back = parse_result(format_result(r));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, r);
    std::string body = result_error_json(r);
    EXPECT_NE(body.find("\"UNKNOWN\""), std::string::npos);
    EXPECT_NE(body.find("builder for 'x.drv' failed"), std::string::npos);
}

// The bug: a build that printed a NUL made a result its readers refused,
// so the waiting clients never heard of the failure.
TEST(QueueSchema, FailurePrintingNulReachesTheWaiters)
{
    std::string nix("error: builder failed; last log lines:\n"
                    "> before\0after\n",
                    54);
    Result r = failure_result(key, "Nix could not build 'nulfail'", nix);
    std::string text = format_result(r);
    EXPECT_EQ(text.find("\\u0000"), std::string::npos) << text;
    std::optional<Result> back = parse_result(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(back->detail, "error: builder failed; last log lines:\n"
                            "> before\xef\xbf\xbd"
                            "after\n");
    std::string body = result_error_json(*back);
    EXPECT_NE(body.find("> before\xef\xbf\xbd"
                        "after"),
              std::string::npos)
        << body;
}

// Results written by an earlier helper, with "\u0000", stay readable for
// their TTL.
TEST(QueueSchema, ResultWithEscapedNulIsRead)
{
    std::optional<Result> r =
        parse_result("{\"v\":1,\"key\":\"" + key +
                     "\",\"ok\":false,\"code\":\"UNKNOWN\",\"message\":\"m\","
                     "\"detail\":\"before\\u0000after\",\"unknown\":[]}");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->detail, std::string("before\0after", 12));
    std::string body = result_error_json(*r);
    EXPECT_EQ(body.find("\\u0000"), std::string::npos) << body;
    EXPECT_NE(body.find("before\xef\xbf\xbd"
                        "after"),
              std::string::npos);
}

TEST(QueueSchema, InvalidUtf8KeepsTheValidText)
{
    Result r = failure_result(key, "m", "caf\xc3\xa9 \xff bad \x1b[1mbold");
    std::optional<Result> back = parse_result(format_result(r));
    ASSERT_TRUE(back);
    // Previously one invalid byte turned every non-ASCII byte into '?'.
    EXPECT_EQ(back->detail, "caf\xc3\xa9 \xef\xbf\xbd bad \x1b[1mbold");
}

TEST(QueueSchema, ResultRejectsMalformed)
{
    EXPECT_FALSE(parse_result("nope"));
    EXPECT_FALSE(parse_result("{\"v\":1,\"key\":\"" + key + "\"}"));
    EXPECT_FALSE(parse_result("{\"v\":1,\"key\":\"" + key +
                              "\",\"ok\":false,\"code\":\"NOT_A_CODE\","
                              "\"message\":\"\",\"detail\":\"\","
                              "\"unknown\":[]}"));
    EXPECT_FALSE(parse_result("{\"v\":1,\"key\":\"" + key +
                              "\",\"ok\":false,\"code\":\"UNKNOWN\","
                              "\"message\":\"\",\"detail\":\"\","
                              "\"unknown\":[1]}"));
}

TEST(QueueSchema, ScriptsUseTheirKeys)
{
    // The module and helper pass KEYS in the documented order; a script
    // that stopped using one would silently break single flight.
    for (std::string_view k : {"KEYS[1]", "KEYS[2]", "KEYS[3]"}) {
        EXPECT_NE(enqueue_script.find(k), std::string_view::npos) << k;
        EXPECT_NE(complete_script.find(k), std::string_view::npos) << k;
    }
}

} // namespace
} // namespace nixery::queue
