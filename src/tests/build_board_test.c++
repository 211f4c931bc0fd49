#include "build_board.h"

#include "json.h"
#include "queue_schema.h"

#include <gtest/gtest.h>

namespace nixery::board {
namespace {

const std::string key_a(64, 'a');
const std::string key_b(64, 'b');

JsonPtr parse(const std::string& text)
{
    JsonPtr j(json_loads(text.c_str(), 0, nullptr));
    EXPECT_NE(j, nullptr) << text;
    return j;
}

std::string str(json_t* o, const char* name)
{
    json_t* j = json_object_get(o, name);
    return json_is_string(j) ? json_string_value(j) : "<not a string>";
}

long long num(json_t* o, const char* name)
{
    json_t* j = json_object_get(o, name);
    return json_is_integer(j) ? json_integer_value(j) : -1;
}

Build build(const std::string& key, std::string phase, std::int64_t started)
{
    Build b;
    b.key = key;
    b.name = "shell/git";
    b.tag = "latest";
    b.helper = "host-1";
    b.phase = std::move(phase);
    b.started_ms = started;
    b.enqueued_ms = started - 500;
    b.expires_ms = started + 45000;
    return b;
}

TEST(BuildBoard, KeyNames)
{
    EXPECT_EQ(waiters_key(key_a), "nixery:waiters:" + key_a);
    EXPECT_EQ(waiters_value(3, 1234), "3 1234");
}

TEST(BuildBoard, BuildRecordsRoundTrip)
{
    Build b = build(key_a, "building", 1000);
    b.layer = 2;
    b.layers = 7;
    std::string text = format_build(b);
    // The read script finds the expiry at the record's end.
    EXPECT_TRUE(text.ends_with("\"expires_ms\":46000}")) << text;
    std::optional<Build> back = parse_build(text);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->key, key_a);
    EXPECT_EQ(back->name, "shell/git");
    EXPECT_EQ(back->phase, "building");
    EXPECT_EQ(back->layer, 2);
    EXPECT_EQ(back->layers, 7);
    EXPECT_EQ(back->expires_ms, 46000);
    EXPECT_FALSE(parse_build("{}"));
    EXPECT_FALSE(parse_build("not json"));
    b.key = "short";
    EXPECT_THROW(format_build(b), std::invalid_argument);
}

TEST(BuildBoard, RedactsHostPathsButKeepsStorePaths)
{
    EXPECT_EQ(redact("error: builder for '/nix/store/abc-slow.drv' failed"),
              "error: builder for '/nix/store/abc-slow.drv' failed");
    EXPECT_EQ(redact("cannot open '/var/lib/nixery/tmp/gcroots/x': denied"),
              "cannot open '[path]': denied");
    EXPECT_EQ(redact("at /work/main/nix/pkgs/default.nix:12:3:"),
              "at [path]:12:3:");
    EXPECT_EQ(redact("/tmp/nix-build-slow.drv-0 is gone"), "[path] is gone");
    EXPECT_EQ(redact("(/home/u/x)"), "([path])");
    // A store path's look-alike is not spared.
    EXPECT_EQ(redact("see /nix/storex/secret and /nix/store/"),
              "see [path] and [path]");
    // URLs keep their paths; relative paths and fractions stay.
    EXPECT_EQ(redact("fetching https://github.com/NixOS/nixpkgs/archive"),
              "fetching https://github.com/NixOS/nixpkgs/archive");
    EXPECT_EQ(redact("pkgs/default.nix 1/2 a / b"),
              "pkgs/default.nix 1/2 a / b");
}

TEST(BuildBoard, RedactsCredentials)
{
    EXPECT_EQ(redact("git fetch https://bob:hunter22@git.example.com/r.git"),
              "git fetch https://[redacted]@git.example.com/r.git");
    EXPECT_EQ(redact("token https://ghp_x@github.com/o/r"),
              "token https://[redacted]@github.com/o/r");
    EXPECT_EQ(redact("AUTH s3cr3t-pass failed; again s3cr3t-pass",
                     {"s3cr3t-pass", "", "ab"}),
              "AUTH [redacted] failed; again [redacted]");
    // Too short to be told from words: left alone.
    EXPECT_EQ(redact("a cab", {"ab"}), "a cab");
}

TEST(BuildBoard, TrimsTheMiddleOnUtf8Boundaries)
{
    EXPECT_EQ(trim_middle("short", 100), "short");
    std::string text = std::string(100, 'a') + std::string(100, 'z');
    std::string t = trim_middle(text, 50);
    EXPECT_LE(t.size(), 50u);
    EXPECT_TRUE(t.starts_with("aaaa"));
    EXPECT_TRUE(t.ends_with("zzzz"));
    EXPECT_NE(t.find("\n[...]\n"), std::string::npos);
    // "é" is two bytes: a cut never splits it.
    std::string accents;
    for (int i = 0; i < 100; ++i) {
        accents += "\xC3\xA9";
    }
    std::string u = trim_middle(accents, 40);
    EXPECT_EQ(lossy_utf8(u), u);
    EXPECT_LE(u.size(), 40u);
}

TEST(BuildBoard, FailureRecordsAreRedactedWhenWritten)
{
    Failure f;
    f.key = key_a;
    f.name = "broken";
    f.tag = "latest";
    f.code = "UNKNOWN";
    f.message = "Nix could not build 'broken'";
    f.detail = "error: builder for '/nix/store/x-broken.drv' failed in "
               "/tmp/nix-build-broken.drv-0 (AUTH pw-1234)\n" +
               std::string(5000, 'x');
    f.finished_ms = 9000;
    f.duration_ms = 2500;
    std::optional<Failure> back = parse_failure(format_failure(f, {"pw-1234"}));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->message, f.message);
    EXPECT_NE(back->detail.find("/nix/store/x-broken.drv"), std::string::npos);
    EXPECT_EQ(back->detail.find("/tmp/"), std::string::npos);
    EXPECT_EQ(back->detail.find("pw-1234"), std::string::npos);
    EXPECT_NE(back->detail.find("[redacted]"), std::string::npos);
    EXPECT_LE(back->detail.size(), detail_max);
    EXPECT_EQ(back->duration_ms, 2500);
}

TEST(BuildBoard, RendersBuildsQueueAndFailures)
{
    Snapshot s;
    s.now_ms = 20000;
    s.jobs = 3;
    s.pending = 2;
    s.oldest_id = "1000-0";
    s.oldest_job = queue::format_job({key_b, "hello", "latest", 1500});
    Build layers = build(key_a, "building", 5000);
    layers.layer = 3;
    layers.layers = 8;
    Build resolving = build(key_b, "resolving", 2000);
    resolving.name = "hello";
    s.builds = {{format_build(layers), 2},
                {"garbage", 1},
                {format_build(resolving), 0}};
    Failure f;
    f.key = key_a;
    f.name = "broken";
    f.tag = "latest";
    f.code = "UNKNOWN";
    f.message = "Nix could not build 'broken'";
    // As another writer might have stored it: not yet redacted.
    f.detail = "in /var/lib/nixery/state: exit 1";
    f.finished_ms = 15000;
    f.duration_ms = 3000;
    JsonPtr f_json(json_loads(format_failure(f).c_str(), 0, nullptr));
    json_object_set_new(f_json.get(), "detail",
                        json_string("in /var/lib/nixery/state: exit 1"));
    s.failures = {json_dump(f_json.get(), JSON_COMPACT), "{\"v\":2}"};

    std::string text = render_board_json(s);
    JsonPtr doc = parse(text);
    EXPECT_EQ(num(doc.get(), "now_ms"), 20000);
    json_t* builds = json_object_get(doc.get(), "builds");
    ASSERT_EQ(json_array_size(builds), 2u) << text;
    // Oldest first; the unreadable record is left out.
    json_t* first = json_array_get(builds, 0);
    EXPECT_EQ(str(first, "image"), "hello:latest");
    EXPECT_EQ(str(first, "status"), "resolving");
    EXPECT_EQ(num(first, "elapsed_s"), 18);
    EXPECT_EQ(json_object_get(first, "layer"), nullptr);
    json_t* second = json_array_get(builds, 1);
    EXPECT_EQ(str(second, "image"), "shell/git:latest");
    EXPECT_EQ(str(second, "phase"), "building");
    EXPECT_EQ(str(second, "status"), "building layer 3 of 8");
    EXPECT_EQ(num(second, "layer"), 3);
    EXPECT_EQ(num(second, "layers"), 8);
    EXPECT_EQ(num(second, "waiting"), 2);
    EXPECT_EQ(num(second, "elapsed_s"), 15);
    // Never the helper's id or the key: names of hosts stay inside.
    EXPECT_EQ(text.find("host-1"), std::string::npos);

    json_t* q = json_object_get(doc.get(), "queue");
    EXPECT_EQ(num(q, "jobs"), 3);
    EXPECT_EQ(num(q, "building"), 2);
    EXPECT_EQ(num(q, "queued"), 1);
    json_t* oldest = json_object_get(q, "oldest");
    EXPECT_EQ(str(oldest, "image"), "hello:latest");
    EXPECT_EQ(num(oldest, "age_s"), 18);

    json_t* failures = json_object_get(doc.get(), "failures");
    ASSERT_EQ(json_array_size(failures), 1u);
    json_t* fail = json_array_get(failures, 0);
    EXPECT_EQ(str(fail, "image"), "broken:latest");
    EXPECT_EQ(str(fail, "code"), "UNKNOWN");
    EXPECT_EQ(str(fail, "detail"), "in [path]: exit 1");
    EXPECT_EQ(num(fail, "duration_s"), 3);
}

TEST(BuildBoard, RendersAnEmptyBoard)
{
    Snapshot s;
    s.now_ms = 1;
    EXPECT_EQ(render_board_json(s),
              "{\"now_ms\":1,\"builds\":[],\"queue\":{\"jobs\":0,"
              "\"building\":0,\"queued\":0,\"oldest\":null},"
              "\"failures\":[]}\n");
}

} // namespace
} // namespace nixery::board
