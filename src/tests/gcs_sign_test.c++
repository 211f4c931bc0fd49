// GCS V4 signed URLs against Google's conformance vectors
// (src/tests/vectors/gcs-v4/README.md).
#include "gcs_sign.h"

#include "digest.h"
#include "json.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace nixery {
namespace {

const std::string vectors = std::string(NIXERY_VECTORS_DIR) + "/gcs-v4";
const std::string key_file = vectors + "/test_service_account.not-a-test.json";

std::string json_str(json_t* obj, const char* key)
{
    const char* s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

std::time_t parse_time(const std::string& iso)
{
    std::tm tm{};
    EXPECT_NE(strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm), nullptr) << iso;
    return timegm(&tm);
}

std::string with_scheme(const std::string& host, const std::string& scheme)
{
    if (host.find("://") != std::string::npos) {
        return host;
    }
    return (scheme.empty() ? "https" : scheme) + "://" + host;
}

// A conformance case as a GcsUrlRequest. Which endpoint a client uses
// (hostname, then client endpoint, then emulator host, then universe
// domain) is the client's configuration, not signing: resolved here.
GcsUrlRequest to_request(json_t* c)
{
    GcsUrlRequest r;
    r.method = json_str(c, "method");
    r.bucket = json_str(c, "bucket");
    r.object = json_str(c, "object");
    r.now = parse_time(json_str(c, "timestamp"));
    r.expires = json_integer_value(json_object_get(c, "expiration"));
    std::string scheme = json_str(c, "scheme");
    std::string style = json_str(c, "urlStyle");
    if (style == "BUCKET_BOUND_HOSTNAME") {
        r.style = GcsUrlStyle::bucket_bound;
        r.endpoint = with_scheme(json_str(c, "bucketBoundHostname"), scheme);
    } else {
        if (style == "VIRTUAL_HOSTED_STYLE") {
            r.style = GcsUrlStyle::virtual_hosted;
        }
        for (const char* field :
             {"hostname", "clientEndpoint", "emulatorHostname"}) {
            if (!json_str(c, field).empty()) {
                r.endpoint = with_scheme(json_str(c, field), scheme);
                break;
            }
        }
        if (r.endpoint == gcs_default_endpoint &&
            !json_str(c, "universeDomain").empty()) {
            r.endpoint = "https://storage." + json_str(c, "universeDomain");
        }
    }
    const char* k;
    json_t* v;
    json_object_foreach(json_object_get(c, "headers"), k, v)
    {
        r.headers.push_back({k, json_string_value(v)});
    }
    json_object_foreach(json_object_get(c, "queryParameters"), k, v)
    {
        r.query.push_back({k, json_string_value(v)});
    }
    return r;
}

// The one case whose expected canonical request disagrees with its own
// string to sign (see below).
const std::string self_contradicting_case =
    "Universe domain with virtual hosted style";

TEST(GcsSignVectors, All29SigningCases)
{
    GcsSigner signer = GcsSigner::from_key_file(key_file);
    EXPECT_EQ(signer.client_email(),
              "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com");
    json_error_t err;
    JsonPtr doc(
        json_load_file((vectors + "/v4_signatures.json").c_str(), 0, &err));
    ASSERT_TRUE(doc) << err.text;
    json_t* cases = json_object_get(doc.get(), "signingV4Tests");
    ASSERT_EQ(json_array_size(cases), 29u);
    std::size_t i;
    json_t* c;
    std::size_t checked = 0;
    json_array_foreach(cases, i, c)
    {
        SCOPED_TRACE(json_str(c, "description"));
        GcsSignedUrl s = gcs_signed_url(signer, to_request(c));
        std::string canonical = json_str(c, "expectedCanonicalRequest");
        if (json_str(c, "description") == self_contradicting_case) {
            // Its expectedCanonicalRequest keeps the bucket in the path
            // ("/test-bucket/test-object") though the host names the
            // bucket; its own expectedStringToSign hashes the canonical
            // request with "/test-object", and its URL (signature
            // included) follows that. Prove the contradiction, then
            // compare with the request the signature was made from.
            std::string sts = json_str(c, "expectedStringToSign");
            EXPECT_NE(sha256_hex(canonical), sts.substr(sts.rfind('\n') + 1));
            canonical.replace(canonical.find("/test-bucket/test-object"), 24,
                              "/test-object");
            EXPECT_EQ(sha256_hex(canonical), sts.substr(sts.rfind('\n') + 1));
        }
        EXPECT_EQ(s.canonical_request, canonical);
        EXPECT_EQ(s.string_to_sign, json_str(c, "expectedStringToSign"));
        EXPECT_EQ(s.url, json_str(c, "expectedUrl"));
        ++checked;
    }
    EXPECT_EQ(checked, 29u);
}

std::string key_json(const std::string& email, const std::string& pem)
{
    JsonPtr o(json_object());
    json_object_set_new(o.get(), "client_email", json_string(email.c_str()));
    json_object_set_new(o.get(), "private_key", json_string(pem.c_str()));
    return json_dump(o.get(), 0);
}

std::string vector_pem()
{
    json_error_t err;
    JsonPtr o(json_load_file(key_file.c_str(), 0, &err));
    return json_str(o.get(), "private_key");
}

std::string key_error(const std::string& json)
{
    try {
        GcsSigner::from_json(json, "/etc/k.json");
    } catch (const GcsKeyError& e) {
        return e.what();
    }
    return "no exception";
}

TEST(GcsSign, BadKeysNameTheFileNotTheKey)
{
    std::string pem = vector_pem();
    ASSERT_NE(pem.find("BEGIN PRIVATE KEY"), std::string::npos);
    // A body line of the key, to look for in messages.
    std::string key_line = pem.substr(pem.find('\n') + 1, 40);
    std::string broken = pem;
    broken[broken.size() / 2] = '#';
    for (const auto& [json, what] :
         std::vector<std::pair<std::string, std::string>>{
             {"not json " + pem, "not a JSON object"},
             {key_json("", pem), "client_email"},
             {"{\"client_email\":\"a@b\"}", "private_key"},
             {key_json("a@b", broken), "not a PEM private key"},
             {key_json("a@b", pem.substr(0, pem.size() / 2)),
              "not a PEM private key"},
         }) {
        std::string e = key_error(json);
        EXPECT_NE(e.find("/etc/k.json"), std::string::npos) << e;
        EXPECT_NE(e.find(what), std::string::npos) << e;
        EXPECT_EQ(e.find(key_line), std::string::npos) << e;
        EXPECT_EQ(e.find("PRIVATE"), std::string::npos) << e;
    }
    try {
        GcsSigner::from_key_file("/nonexistent/key.json");
        ADD_FAILURE() << "no exception";
    } catch (const GcsKeyError& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/key.json"),
                  std::string::npos);
    }
}

TEST(GcsSign, RejectsNonRsaKeys)
{
    // A P-256 key made here: GOOG4-RSA-SHA256 needs RSA.
    EVP_PKEY* ec = EVP_EC_gen("P-256");
    ASSERT_NE(ec, nullptr);
    BIO* bio = BIO_new(BIO_s_mem());
    ASSERT_EQ(PEM_write_bio_PrivateKey(bio, ec, nullptr, nullptr, 0, nullptr,
                                       nullptr),
              1);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(len));
    BIO_free(bio);
    EVP_PKEY_free(ec);
    std::string e = key_error(key_json("a@b", pem));
    EXPECT_NE(e.find("not an RSA key"), std::string::npos) << e;
}

TEST(GcsSign, RefusesBadRequests)
{
    GcsSigner signer = GcsSigner::from_key_file(key_file);
    GcsUrlRequest ok;
    ok.bucket = "b";
    ok.object = "o";
    ok.now = 1548997200;
    ok.expires = 10;
    EXPECT_NO_THROW(gcs_signed_url(signer, ok));
    auto bad = [&](auto change) {
        GcsUrlRequest r = ok;
        change(r);
        EXPECT_THROW(gcs_signed_url(signer, r), std::invalid_argument);
    };
    bad([](GcsUrlRequest& r) { r.bucket.clear(); });
    bad([](GcsUrlRequest& r) { r.expires = 0; });
    bad([](GcsUrlRequest& r) { r.expires = 604801; });
    bad([](GcsUrlRequest& r) { r.endpoint = "ftp://x"; });
    bad([](GcsUrlRequest& r) { r.endpoint = "https://x/path"; });
    bad([](GcsUrlRequest& r) { r.query.push_back({"X-Goog-Date", "1"}); });
    bad([](GcsUrlRequest& r) { r.headers.push_back({"Host", "x"}); });
}

} // namespace
} // namespace nixery
