// The S3 backend. Addressing and what each request carries are checked
// against the fake server (fake_bucket_server.h); the behaviour suite and
// the S3-only checks run against a real S3 server, Ceph's RADOS Gateway,
// which t/065-storage-s3.t starts and names in NIXERY_TEST_S3_ENDPOINT,
// _ACCESS_KEY, _SECRET_KEY and _REGION. Without them the S3 tests skip.
#include "fake_bucket_server.h"
#include "keep_alive_storage.h"
#include "storage_suite.h"
#include "temp_tree.h"

#include "storage/s3.h"

#include "digest.h"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <utility>

namespace nixery::test {
namespace {

// --- Addressing and requests, on the fake --------------------------------

TEST(S3Address, VirtualHostedOnAws)
{
    S3Config c;
    c.bucket = "images";
    c.region = "eu-west-1";
    S3Address a = s3_address(c, "blobs/sha256/ab/abc");
    EXPECT_EQ(a.origin, "https://images.s3.eu-west-1.amazonaws.com");
    EXPECT_EQ(a.host, "images.s3.eu-west-1.amazonaws.com");
    EXPECT_EQ(a.path, "/blobs/sha256/ab/abc");
    EXPECT_EQ(s3_address(c, "").path, "/");
}

TEST(S3Address, PathStyleWhenForced)
{
    S3Config c;
    c.bucket = "my.dotted.bucket";
    c.force_path_style = true;
    S3Address a = s3_address(c, "index/0f/0f00");
    EXPECT_EQ(a.origin, "https://s3.us-east-1.amazonaws.com");
    EXPECT_EQ(a.path, "/my.dotted.bucket/index/0f/0f00");
}

TEST(S3Address, PathStyleOnAnEndpoint)
{
    S3Config c;
    c.bucket = "images";
    c.endpoint = "http://127.0.0.1:7480/";
    S3Address a = s3_address(c, "layers/01/a");
    EXPECT_EQ(a.origin, "http://127.0.0.1:7480");
    EXPECT_EQ(a.host, "127.0.0.1:7480");
    EXPECT_EQ(a.path, "/images/layers/01/a");
    EXPECT_EQ(s3_address(c, "").path, "/images");
}

TEST(S3Address, BadConfigurationsAreRefusedWithoutTheSecret)
{
    S3Config c;
    c.bucket = "images";
    c.credentials = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                     ""};
    for (auto change : std::vector<std::function<void(S3Config&)>>{
             [](S3Config& x) { x.bucket = "a/b"; },
             [](S3Config& x) { x.bucket = ""; },
             [](S3Config& x) { x.region = "eu west"; },
             [](S3Config& x) { x.endpoint = "127.0.0.1:7480"; },
             [](S3Config& x) { x.endpoint = "http://h/path"; },
             [](S3Config& x) { x.credentials.access_key_id.clear(); },
             [](S3Config& x) { x.credentials.secret_access_key.clear(); }}) {
        S3Config bad = c;
        change(bad);
        try {
            open_s3_storage(bad);
            ADD_FAILURE() << "accepted";
        } catch (const StorageError& e) {
            EXPECT_EQ(std::string(e.what()).find("wJalr"), std::string::npos);
        }
    }
}

struct FakeS3 {
    TempDir dir;
    FakeBucketServer server{"images"};
    S3Config config;
    FakeS3()
    {
        config.bucket = "images";
        config.endpoint = server.endpoint();
        config.credentials = {"AKIDEXAMPLE", "not/a/real+secret", ""};
        config.local_tmp = dir.path() + "/tmp";
        config.tuning.part_size = 1 << 20;
        config.tuning.first_backoff = std::chrono::milliseconds(1);
        config.tuning.max_backoff = std::chrono::milliseconds(5);
    }
};

TEST(S3Requests, EachRequestIsSignedWithTheHashOfItsBody)
{
    FakeS3 f;
    auto s = open_s3_storage(f.config);
    s->put("index/0f/0f00", "entry");
    std::string path = s->local_tmp() + "/l";
    std::ofstream(path) << std::string((2 << 20) + 5, 'p');
    s->put_file("blobs/sha256/ab/abab", path);
    s->get("index/0f/0f00", 100);
    for (const RecordedRequest& r : f.server.requests()) {
        SCOPED_TRACE(r.method + " " + r.target);
        EXPECT_EQ(r.header("x-amz-content-sha256"), r.body_sha256);
        std::string auth = r.header("authorization");
        EXPECT_TRUE(auth.starts_with("AWS4-HMAC-SHA256 Credential="
                                     "AKIDEXAMPLE/"))
            << auth;
        EXPECT_NE(auth.find("/us-east-1/s3/aws4_request, SignedHeaders="),
                  std::string::npos)
            << auth;
        EXPECT_NE(auth.find("host;x-amz-content-sha256;x-amz-date, "
                            "Signature="),
                  std::string::npos)
            << auth;
        EXPECT_EQ(r.header("host"), f.server.endpoint().substr(7));
        EXPECT_TRUE(r.header("x-amz-security-token").empty());
        EXPECT_TRUE(r.path.starts_with("/images/"));
    }
    // put, then initiate, three parts, complete, then get.
    EXPECT_EQ(f.server.requests().size(), 7u);
}

TEST(S3Requests, ASessionTokenIsSentAndSigned)
{
    FakeS3 f;
    f.config.credentials.session_token = "session/token+value";
    auto s = open_s3_storage(f.config);
    s->put("index/0f/0f00", "entry");
    RecordedRequest r = f.server.requests().at(0);
    EXPECT_EQ(r.header("x-amz-security-token"), "session/token+value");
    EXPECT_NE(r.header("authorization").find("x-amz-security-token"),
              std::string::npos);
}

TEST(S3Requests, ListFollowsContinuationTokens)
{
    FakeS3 f; // pages of two keys
    auto s = open_s3_storage(f.config);
    for (const char* k : {"layers/01/a", "layers/01/b", "layers/02/c",
                          "layers/03/d", "layers/04/e"}) {
        s->put(k, k);
    }
    f.server.clear_requests();
    int n = 0;
    s->list("layers/", [&](const StoredObject&) { ++n; });
    EXPECT_EQ(n, 5);
    std::vector<RecordedRequest> sent = f.server.requests();
    ASSERT_EQ(sent.size(), 3u);
    EXPECT_FALSE(sent[0].param("continuation-token"));
    EXPECT_EQ(sent[1].param("continuation-token"), "after:layers/01/b");
    EXPECT_EQ(sent[2].param("continuation-token"), "after:layers/03/d");
}

TEST(S3Requests, ADroppedConnectionIsRetried)
{
    FakeS3 f;
    auto s = open_s3_storage(f.config);
    s->put("index/0f/0f00", "entry");
    // Twice: curl itself retries once a kept-alive connection that closes
    // at once; the second drop, on a new connection, is ours to retry.
    int dropped = 0;
    f.server.set_fault([&](const RecordedRequest&) {
        return dropped < 2 ? (++dropped, -1) : 0;
    });
    f.server.clear_requests();
    EXPECT_EQ(s->get("index/0f/0f00", 100), "entry");
    EXPECT_EQ(dropped, 2);
    EXPECT_EQ(f.server.requests().size(), 3u);
}

TEST(S3Requests, NoServerIsAStorageErrorAfterTheRetries)
{
    FakeS3 f;
    f.config.endpoint = "http://127.0.0.1:1"; // nothing listens there
    f.config.tuning.max_attempts = 2;
    auto s = open_s3_storage(f.config);
    try {
        s->size("index/0f/0f00");
        FAIL() << "no error";
    } catch (const StorageError& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("HEAD index/0f/0f00"), std::string::npos) << m;
        EXPECT_NE(m.find("2 attempts"), std::string::npos) << m;
        EXPECT_EQ(m.find("not/a/real+secret"), std::string::npos) << m;
    }
}

// --- The real S3 server ---------------------------------------------------

std::optional<std::string> env(const char* name)
{
    const char* v = std::getenv(name);
    return v && *v ? std::optional<std::string>(v) : std::nullopt;
}

// The RGW the test harness started, nullopt when there is none.
std::optional<S3Config> rgw_config()
{
    std::optional<std::string> endpoint = env("NIXERY_TEST_S3_ENDPOINT");
    if (!endpoint) {
        return std::nullopt;
    }
    S3Config c;
    c.endpoint = *endpoint;
    c.region = env("NIXERY_TEST_S3_REGION").value_or("us-east-1");
    c.credentials.access_key_id = env("NIXERY_TEST_S3_ACCESS_KEY").value_or("");
    c.credentials.secret_access_key =
        env("NIXERY_TEST_S3_SECRET_KEY").value_or("");
    return c;
}

// A new, empty bucket on the RGW, with its own local directory.
std::unique_ptr<KeepAliveStorage> fresh_rgw_bucket(S3Config c,
                                                   std::string* name = nullptr)
{
    static std::atomic<int> counter{0};
    auto dir = std::make_shared<TempDir>();
    c.bucket = "nixery-" + std::to_string(::getpid()) + "-" +
               std::to_string(counter++);
    c.local_tmp = dir->path() + "/tmp";
    if (name != nullptr) {
        *name = c.bucket;
    }
    auto s = open_s3_storage(c);
    auto& bucket = dynamic_cast<BucketStorage&>(*s);
    HttpResponse r = bucket.send({"PUT", "", {}, {}, sha256_hex("")});
    if (r.status != 200) {
        throw StorageError("cannot create bucket " + c.bucket + ": HTTP " +
                           std::to_string(r.status));
    }
    return std::make_unique<KeepAliveStorage>(dir, std::move(s));
}

INSTANTIATE_TEST_SUITE_P(
    S3, StorageSuite,
    ::testing::Values(StorageBackend{
        "rgw",
        []() -> std::unique_ptr<Storage> {
            std::optional<S3Config> c = rgw_config();
            if (!c) {
                std::cerr << "NIXERY_TEST_S3_ENDPOINT is not set: no S3 "
                             "server (t/065-storage-s3.t starts one)\n";
                return nullptr;
            }
            return fresh_rgw_bucket(*c);
        }}),
    [](const auto& info) { return info.param.name; });

class S3Storage : public ::testing::Test {
  protected:
    void SetUp() override
    {
        std::optional<S3Config> c = rgw_config();
        if (!c) {
            GTEST_SKIP() << "NIXERY_TEST_S3_ENDPOINT is not set";
        }
        config = *c;
    }

    // Multipart uploads begun and neither completed nor aborted.
    static int pending_uploads(Storage& s)
    {
        auto& bucket = dynamic_cast<BucketStorage&>(
            dynamic_cast<KeepAliveStorage&>(s).inner());
        HttpResponse r =
            bucket.send({"GET", "", {{"uploads", ""}}, {}, sha256_hex("")});
        EXPECT_EQ(r.status, 200) << r.body;
        int n = 0;
        for (std::size_t at = 0;
             (at = r.body.find("<Upload>", at)) != std::string::npos; ++at) {
            ++n;
        }
        return n;
    }

    static std::string pattern(std::size_t n)
    {
        std::string bytes(n, '\0');
        for (std::size_t i = 0; i < n; ++i) {
            bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
        }
        return bytes;
    }

    S3Config config;
};

TEST_F(S3Storage, MultipartPutFileReadsBackByteIdentical)
{
    int parts = 0;
    config.tuning.after_part = [&](int n) { parts = n; };
    auto s = fresh_rgw_bucket(config);
    std::string bytes = pattern(40'000'000);
    std::string path = s->local_tmp() + "/layer";
    std::ofstream(path, std::ios::binary) << bytes;
    const std::string key = "blobs/sha256/" + sha256_hex(bytes).substr(0, 2) +
                            "/" + sha256_hex(bytes);
    s->put_file(key, path);
    EXPECT_EQ(parts, 3) << "16 MiB parts";
    EXPECT_EQ(s->size(key), bytes.size());
    std::optional<std::string> back = s->get(key, bytes.size());
    ASSERT_TRUE(back);
    EXPECT_TRUE(*back == bytes) << "the bytes differ";
    EXPECT_EQ(pending_uploads(*s), 0);
}

TEST_F(S3Storage, APutFileThatFailsMidwayLeavesNoObjectAndNoUpload)
{
    std::string path;
    int pending_midway = -1;
    KeepAliveStorage* storage = nullptr;
    config.tuning.after_part = [&](int n) {
        if (n == 1) {
            pending_midway = pending_uploads(*storage);
            // The layer file is cut short under the upload.
            EXPECT_EQ(::truncate(path.c_str(), 1 << 20), 0);
        }
    };
    auto s = fresh_rgw_bucket(config);
    storage = s.get();
    path = s->local_tmp() + "/layer";
    std::ofstream(path, std::ios::binary) << pattern(40'000'000);
    EXPECT_THROW(s->put_file("blobs/sha256/aa/aaaa", path), StorageError);
    EXPECT_EQ(pending_midway, 1) << "the upload was under way";
    EXPECT_EQ(s->size("blobs/sha256/aa/aaaa"), std::nullopt);
    EXPECT_EQ(s->get("blobs/sha256/aa/aaaa", 1 << 30), std::nullopt);
    EXPECT_EQ(pending_uploads(*s), 0) << "the upload was aborted";
}

TEST_F(S3Storage, WrongCredentialsNameTheKeyIdAndStatusNotTheSecret)
{
    S3Config wrong = config;
    auto good = fresh_rgw_bucket(config, &wrong.bucket);
    wrong.credentials.secret_access_key =
        "Wrong/Secret+Key0123456789abcdefghijklmn";
    auto s = open_s3_storage(wrong);
    try {
        s->put("index/0f/0f00", "entry");
        FAIL() << "a wrong secret was accepted";
    } catch (const StorageError& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("HTTP 403 SignatureDoesNotMatch"), std::string::npos)
            << m;
        EXPECT_NE(m.find("access key id " + config.credentials.access_key_id),
                  std::string::npos)
            << m;
        EXPECT_NE(m.find("index/0f/0f00"), std::string::npos) << m;
        EXPECT_NE(m.find("check AWS_SECRET_ACCESS_KEY"), std::string::npos)
            << m;
        EXPECT_EQ(m.find("Wrong/Secret"), std::string::npos) << m;
        EXPECT_EQ(m.find(config.credentials.secret_access_key),
                  std::string::npos)
            << m;
        EXPECT_EQ(m.find("Signature="), std::string::npos) << m;
    }
    wrong.credentials.access_key_id = "NIXERYUNKNOWNKEYID00";
    try {
        open_s3_storage(wrong)->get("index/0f/0f00", 10);
        FAIL() << "an unknown key id was accepted";
    } catch (const StorageError& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("HTTP 403 InvalidAccessKeyId"), std::string::npos)
            << m;
        EXPECT_NE(m.find("NIXERYUNKNOWNKEYID00"), std::string::npos) << m;
    }
}

// Memory stays at about one part whatever the file's size: run alone with
// NIXERY_TEST_S3_BIG_MB=1024 under /usr/bin/time -v (t/065 does).
TEST_F(S3Storage, BigPutFile)
{
    std::optional<std::string> mb = env("NIXERY_TEST_S3_BIG_MB");
    if (!mb) {
        GTEST_SKIP() << "NIXERY_TEST_S3_BIG_MB is not set";
    }
    auto s = fresh_rgw_bucket(config);
    std::string path = s->local_tmp() + "/big";
    std::uint64_t size = std::stoull(*mb) << 20;
    {
        std::ofstream out(path, std::ios::binary);
        std::string chunk = pattern(1 << 20);
        for (std::uint64_t i = 0; i < (size >> 20); ++i) {
            chunk[0] = static_cast<char>(i);
            out << chunk;
        }
    }
    s->put_file("blobs/sha256/bb/bbbb", path);
    EXPECT_EQ(s->size("blobs/sha256/bb/bbbb"), size);
    EXPECT_EQ(pending_uploads(*s), 0);
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    std::cout << "peak RSS " << ru.ru_maxrss << " KiB for " << size
              << " bytes\n";
}

} // namespace
} // namespace nixery::test
