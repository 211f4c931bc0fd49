// The GCS backend against a fake GCS (fake_bucket_server.h): the storage
// behaviour suite, then what was sent: every request a V4 signed URL that
// verifies (recomputed with gcs_signed_url() from what the server
// received), retries, multipart uploads and their abort. No real GCS
// server checks these signatures here; the signing itself is proved on
// Google's vectors (src/tests/gcs_sign_test.c++).
#include "fake_bucket_server.h"
#include "keep_alive_storage.h"
#include "storage_suite.h"
#include "temp_tree.h"

#include "storage/gcs.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <set>

namespace nixery::test {
namespace {

constexpr const char* client_email =
    "nixery-test@example.iam.gserviceaccount.com";

// A service-account key file with a fresh RSA key.
std::string write_key_file(const std::string& dir)
{
    EVP_PKEY* key = EVP_RSA_gen(2048);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* pem = nullptr;
    long len = BIO_get_mem_data(bio, &pem);
    json_t* json =
        json_pack("{s:s, s:s, s:s%}", "type", "service_account", "client_email",
                  client_email, "private_key", pem, static_cast<size_t>(len));
    char* text = json_dumps(json, 0);
    std::string path = dir + "/key.json";
    std::ofstream(path) << text;
    free(text);
    json_decref(json);
    BIO_free(bio);
    EVP_PKEY_free(key);
    return path;
}

// A fake server, a key and the storage on them, owned together.
struct GcsWorld {
    TempDir dir;
    FakeBucketServer server{"nixery-images"};
    GcsConfig config;

    explicit GcsWorld(std::uint64_t part_size = 1 << 20)
    {
        config.bucket = server.bucket();
        config.key_file = write_key_file(dir.path());
        config.endpoint = server.endpoint();
        config.local_tmp = dir.path() + "/tmp";
        config.tuning.part_size = part_size;
        config.tuning.first_backoff = std::chrono::milliseconds(1);
        config.tuning.max_backoff = std::chrono::milliseconds(5);
    }
};

// The suite with 1 MiB parts: its 3 MiB put_file is a multipart upload,
// and with pages of 2 keys its listings follow continuation tokens.
INSTANTIATE_TEST_SUITE_P(Gcs, StorageSuite,
                         ::testing::Values(StorageBackend{
                             "gcs_fake",
                             []() -> std::unique_ptr<Storage> {
                                 auto world = std::make_shared<GcsWorld>();
                                 auto inner = open_gcs_storage(world->config);
                                 return std::make_unique<KeepAliveStorage>(
                                     world, std::move(inner));
                             }}),
                         [](const auto& info) { return info.param.name; });

std::time_t parse_basic_time(const std::string& s)
{
    std::tm tm{};
    if (::strptime(s.c_str(), "%Y%m%dT%H%M%SZ", &tm) == nullptr) {
        return 0;
    }
    return ::timegm(&tm);
}

// The signed URL that should have produced `r`, recomputed from what the
// server received: its method, object, time, expiry, extra parameters and
// the headers it says it signed.
std::string expected_target(const GcsSigner& signer, const GcsWorld& w,
                            const RecordedRequest& r)
{
    GcsUrlRequest u;
    u.method = r.method;
    u.bucket = w.config.bucket;
    std::string prefix = "/" + w.config.bucket;
    u.object =
        r.path.size() > prefix.size() ? r.path.substr(prefix.size() + 1) : "";
    u.now = parse_basic_time(r.param("X-Goog-Date").value_or(""));
    u.expires = std::stoll(r.param("X-Goog-Expires").value_or("0"));
    u.endpoint = w.config.endpoint;
    for (const QueryParam& q : r.query) {
        if (!q.name.starts_with("X-Goog-")) {
            u.query.push_back(q);
        }
    }
    std::string signed_headers = r.param("X-Goog-SignedHeaders").value_or("");
    for (const Header& h : r.headers) {
        if (h.name != "host" &&
            (";" + signed_headers + ";").find(";" + h.name + ";") !=
                std::string::npos) {
            u.headers.push_back(h);
        }
    }
    std::string url = gcs_signed_url(signer, u).url;
    return url.substr(w.config.endpoint.size());
}

TEST(GcsStorage, EveryRequestIsASignedUrlThatVerifies)
{
    GcsWorld w;
    auto s = open_gcs_storage(w.config);
    s->put("index/ab/abcd", "entry");
    std::string big(2'500'000, 'b'); // three parts of 1 MiB at most
    std::string path = s->local_tmp() + "/big";
    std::ofstream(path) << big;
    s->put_file("blobs/sha256/cd/cdef", path);
    EXPECT_EQ(s->get("index/ab/abcd", 100), "entry");
    EXPECT_EQ(s->size("blobs/sha256/cd/cdef"), big.size());
    s->list("index/", [](const StoredObject&) {});
    s->remove("index/ab/abcd");

    GcsSigner signer = GcsSigner::from_key_file(w.config.key_file);
    std::set<std::string> kinds;
    std::vector<RecordedRequest> sent = w.server.requests();
    for (const RecordedRequest& r : sent) {
        SCOPED_TRACE(r.method + " " + r.target);
        EXPECT_EQ(r.param("X-Goog-Algorithm"), "GOOG4-RSA-SHA256");
        EXPECT_EQ(r.param("X-Goog-Expires"),
                  std::to_string(gcs_request_url_lifetime));
        std::string credential = r.param("X-Goog-Credential").value_or("");
        EXPECT_TRUE(credential.starts_with(std::string(client_email) + "/"));
        EXPECT_EQ(r.target, expected_target(signer, w, r));
        EXPECT_TRUE(r.header("authorization").empty());
        std::string kind = r.method;
        for (const QueryParam& q : r.query) {
            if (!q.name.starts_with("X-Goog-") && q.name != "prefix" &&
                q.name != "partNumber") {
                kind += " " + q.name;
            }
        }
        kinds.insert(kind);
    }
    std::set<std::string> want = {
        "PUT", "POST uploads", "PUT uploadId",  "POST uploadId",
        "GET", "HEAD",         "GET list-type", "DELETE"};
    EXPECT_EQ(kinds, want);
}

TEST(GcsStorage, ASignatureMadeWithAnotherKeyDoesNotVerify)
{
    // The check above can fail: a URL signed with another key differs.
    GcsWorld w;
    auto s = open_gcs_storage(w.config);
    s->put("index/ab/abcd", "entry");
    TempDir other;
    GcsSigner stranger = GcsSigner::from_key_file(write_key_file(other.path()));
    RecordedRequest r = w.server.requests().at(0);
    EXPECT_NE(r.target, expected_target(stranger, w, r));
}

TEST(GcsStorage, MultipartUploadSendsPartsInOrderAndCompletes)
{
    GcsWorld w;
    auto s = open_gcs_storage(w.config);
    std::string bytes(3 * (1 << 20) + 7, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] = static_cast<char>(i * 131 >> 5);
    }
    std::string path = s->local_tmp() + "/layer";
    std::ofstream(path, std::ios::binary) << bytes;
    s->put_file("blobs/sha256/ee/eeee", path);
    EXPECT_EQ(w.server.object("blobs/sha256/ee/eeee"), bytes);
    std::vector<std::string> parts;
    for (const RecordedRequest& r : w.server.requests()) {
        if (r.method == "PUT") {
            parts.push_back(r.param("partNumber").value_or("-") + ":" +
                            std::to_string(r.body_size));
        }
    }
    std::vector<std::string> want = {"1:1048576", "2:1048576", "3:1048576",
                                     "4:7"};
    EXPECT_EQ(parts, want);
    EXPECT_EQ(w.server.pending_uploads(), 0u);
}

TEST(GcsStorage, ServerErrorsAreRetriedThenSucceed)
{
    GcsWorld w;
    auto s = open_gcs_storage(w.config);
    int failures = 0;
    w.server.set_fault([&](const RecordedRequest& r) {
        if (r.method == "PUT" && failures < 3) {
            ++failures;
            return failures == 2 ? -1 : (failures == 1 ? 503 : 429);
        }
        return 0;
    });
    s->put("index/01/x", "after three failures");
    EXPECT_EQ(failures, 3);
    EXPECT_EQ(w.server.object("index/01/x"), "after three failures");
    EXPECT_EQ(w.server.requests().size(), 4u);
}

TEST(GcsStorage, RetriesAreBounded)
{
    GcsWorld w;
    w.config.tuning.max_attempts = 3;
    auto s = open_gcs_storage(w.config);
    w.server.set_fault([](const RecordedRequest&) { return 500; });
    try {
        s->put("index/01/x", "never");
        FAIL() << "no error";
    } catch (const StorageError& e) {
        EXPECT_NE(std::string(e.what()).find("HTTP 500 InternalError"),
                  std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find("index/01/x"), std::string::npos);
    }
    EXPECT_EQ(w.server.requests().size(), 3u);
}

TEST(GcsStorage, ClientErrorsAreNotRetriedAndNameTheServiceAccount)
{
    GcsWorld w;
    auto s = open_gcs_storage(w.config);
    w.server.set_fault([](const RecordedRequest&) { return 403; });
    try {
        s->get("index/01/x", 10);
        FAIL() << "no error";
    } catch (const StorageError& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("HTTP 403 AccessDenied"), std::string::npos) << m;
        EXPECT_NE(m.find(client_email), std::string::npos) << m;
        EXPECT_EQ(m.find("X-Goog-Signature"), std::string::npos) << m;
        EXPECT_EQ(m.find("PRIVATE KEY"), std::string::npos) << m;
    }
    EXPECT_EQ(w.server.requests().size(), 1u);
}

TEST(GcsStorage, AFailedPartAbortsTheUploadAndLeavesNoObject)
{
    GcsWorld w;
    w.config.tuning.max_attempts = 2;
    auto s = open_gcs_storage(w.config);
    w.server.set_fault([](const RecordedRequest& r) {
        return r.param("partNumber") == "2" ? 500 : 0;
    });
    std::string path = s->local_tmp() + "/layer";
    std::ofstream(path) << std::string(3 << 20, 'x');
    EXPECT_THROW(s->put_file("blobs/sha256/aa/aaaa", path), StorageError);
    EXPECT_EQ(w.server.object("blobs/sha256/aa/aaaa"), std::nullopt);
    EXPECT_EQ(w.server.pending_uploads(), 0u) << "the upload was aborted";
    EXPECT_EQ(w.server.requests().back().method, "DELETE");
    EXPECT_TRUE(w.server.requests().back().param("uploadId"));
    EXPECT_EQ(::access(path.c_str(), F_OK), -1) << "the local file is gone";
}

TEST(GcsStorage, AMissingBucketIsAnErrorNotAnAbsentKey)
{
    GcsWorld w;
    w.config.bucket = "no-such-bucket";
    auto s = open_gcs_storage(w.config);
    EXPECT_THROW(s->get("index/01/x", 10), StorageError);
    EXPECT_THROW(s->remove("index/01/x"), StorageError);
}

TEST(GcsStorage, OpeningNamesTheKeyFileNotTheKey)
{
    TempDir dir;
    GcsConfig c;
    c.bucket = "images";
    c.key_file = dir.path() + "/missing.json";
    try {
        open_gcs_storage(c);
        FAIL() << "no error";
    } catch (const StorageError& e) {
        EXPECT_NE(std::string(e.what()).find(c.key_file), std::string::npos)
            << e.what();
    }
    c.key_file = write_key_file(dir.path());
    c.bucket = "Bad/Bucket";
    EXPECT_THROW(open_gcs_storage(c), StorageError);
    c.bucket = "images";
    c.endpoint = "ftp://storage.example";
    EXPECT_THROW(open_gcs_storage(c), StorageError);
}

TEST(GcsStorage, DescribeNamesBucketAndEndpoint)
{
    GcsWorld w;
    auto s = open_gcs_storage(w.config);
    EXPECT_EQ(s->describe(),
              "gcs bucket nixery-images at " + w.server.endpoint());
}

} // namespace
} // namespace nixery::test
