// The module's bucket signer: which keys it signs, how it reads
// credentials (and keeps secrets out of errors), and the URLs it makes.
#include "bucket_signer.h"

#include "digest.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace nixery {
namespace {

const std::string hex =
    "ab" + std::string(62, '0'); // 64 lowercase hex digits starting "ab"
const std::string blob_key = "blobs/sha256/ab/" + hex;

constexpr std::string_view aws_text =
    "# test keys\n"
    "AWS_ACCESS_KEY_ID=AKIDEXAMPLE\n"
    "AWS_SECRET_ACCESS_KEY=\"s3cr3t/key+x\"\n";

std::string_view query_value(std::string_view url, std::string_view name)
{
    std::string needle = std::string(name) + "=";
    auto q = url.find('?');
    while (q != std::string_view::npos) {
        auto start = q + 1;
        if (url.substr(start, needle.size()) == needle) {
            auto end = url.find('&', start);
            return url.substr(start + needle.size(),
                              end == std::string_view::npos
                                  ? std::string_view::npos
                                  : end - start - needle.size());
        }
        q = url.find('&', start);
    }
    return {};
}

TEST(BucketKey, AcceptsTheLayoutsKeys)
{
    EXPECT_TRUE(is_bucket_key(blob_key));
    EXPECT_TRUE(is_bucket_key("manifests/docker/ab/" + hex));
    EXPECT_TRUE(is_bucket_key("manifests/oci/ab/" + hex));
    // The lists of images for several platforms.
    EXPECT_TRUE(is_bucket_key("manifests/docker-list/ab/" + hex));
    EXPECT_TRUE(is_bucket_key("manifests/oci-index/ab/" + hex));
    EXPECT_TRUE(is_bucket_key("index/ab/" + hex));
}

TEST(BucketKey, RefusesEverythingElse)
{
    const std::string upper = "AB" + std::string(62, '0');
    for (const std::string& k : {
             std::string(),
             std::string("blobs/sha256/ab/"),
             "blobs/sha256/cd/" + hex,           // fan-out disagrees
             "blobs/sha256/AB/" + upper,         // uppercase
             "blobs/sha256/ab/" + hex + "/",     // trailing slash
             "blobs/sha256/ab/" + hex + "x",     // too long
             "blobs/sha256/ab/" + hex.substr(1), // too short
             "/blobs/sha256/ab/" + hex,          // absolute
             "blobs/sha512/ab/" + hex,
             "manifests/docker-lists/ab/" + hex,
             "manifests/oci-index-x/ab/" + hex,
             "manifests/other/ab/" + hex,
             "layers/ab/" + hex, // the helper's layer cache
             "index/ab/../ab/" + hex.substr(6),
             std::string("gc.lock"),
             "blobs/sha256/ab/" + hex.substr(0, 63) + "g",
         }) {
        EXPECT_FALSE(is_bucket_key(k)) << k;
    }
}

TEST(AwsCredentials, ReadsKeyValueLines)
{
    AwsCredentials c =
        parse_aws_credentials("export AWS_ACCESS_KEY_ID = AKID\r\n\n"
                              "AWS_SECRET_ACCESS_KEY='se=cret'\n"
                              "AWS_SESSION_TOKEN=tok\nAWS_REGION=eu-west-1\n",
                              "f");
    EXPECT_EQ(c.access_key_id, "AKID");
    EXPECT_EQ(c.secret_access_key, "se=cret");
    EXPECT_EQ(c.session_token, "tok");
}

TEST(AwsCredentials, NamesWhatIsMissingNeverASecret)
{
    try {
        parse_aws_credentials("AWS_ACCESS_KEY_ID=AKID\n", "/etc/k");
        FAIL() << "no secret accepted";
    } catch (const BucketConfigError& e) {
        EXPECT_EQ(std::string(e.what()), "/etc/k has no AWS_SECRET_ACCESS_KEY");
    }
    try {
        parse_aws_credentials("AWS_SECRET_ACCESS_KEY=topsecret\n", "/etc/k");
        FAIL() << "no key id accepted";
    } catch (const BucketConfigError& e) {
        EXPECT_EQ(std::string(e.what()), "/etc/k has no AWS_ACCESS_KEY_ID");
    }
    try {
        parse_aws_credentials("AWS_ACCESS_KEY_ID=a\ntopsecret\n", "/etc/k");
        FAIL() << "a line without '=' accepted";
    } catch (const BucketConfigError& e) {
        std::string what = e.what();
        EXPECT_EQ(what, "/etc/k: line 2 is not KEY=value");
        EXPECT_EQ(what.find("topsecret"), std::string::npos);
    }
}

TEST(BucketEndpointParse, SchemeAndAuthority)
{
    BucketEndpoint e = parse_bucket_endpoint("http://127.0.0.1:7480/");
    EXPECT_EQ(e.scheme, "http");
    EXPECT_EQ(e.authority, "127.0.0.1:7480");
    for (const char* bad : {"127.0.0.1:7480", "ftp://h", "http://",
                            "http://h/p", "http://u@h", "http://h?x"}) {
        EXPECT_THROW(parse_bucket_endpoint(bad), BucketConfigError) << bad;
    }
}

BucketSettings s3(std::string endpoint, std::optional<bool> path_style = {})
{
    BucketSettings s;
    s.kind = BucketKind::s3;
    s.name = "images";
    s.endpoint = std::move(endpoint);
    s.region = "eu-west-1";
    s.path_style = path_style;
    return s;
}

TEST(BucketSigner, S3PathStyleWithAnEndpoint)
{
    auto signer =
        BucketSigner::from_text(s3("http://127.0.0.1:7480"), aws_text);
    std::time_t now = 1700000000; // 2023-11-14T22:13:20Z
    std::string url = signer->presigned_url("GET", blob_key, now, 300);
    std::string prefix = "http://127.0.0.1:7480/images/" + blob_key + "?";
    EXPECT_EQ(url.substr(0, prefix.size()), prefix) << url;
    EXPECT_EQ(query_value(url, "X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
    EXPECT_EQ(query_value(url, "X-Amz-Credential"),
              "AKIDEXAMPLE%2F20231114%2Feu-west-1%2Fs3%2Faws4_request");
    EXPECT_EQ(query_value(url, "X-Amz-Date"), "20231114T221320Z");
    EXPECT_EQ(query_value(url, "X-Amz-Expires"), "300");
    EXPECT_EQ(query_value(url, "X-Amz-SignedHeaders"), "host");
    EXPECT_EQ(query_value(url, "X-Amz-Signature").size(), 64u);
    EXPECT_EQ(url.find("s3cr3t"), std::string::npos);

    // The same as signing the request by hand with the core.
    SigV4Request req;
    req.method = "GET";
    req.path = "/images/" + blob_key;
    req.headers.push_back({"Host", "127.0.0.1:7480"});
    SigV4Key key({"AKIDEXAMPLE", "s3cr3t/key+x", ""}, "20231114", "eu-west-1",
                 "s3");
    EXPECT_EQ(url, sigv4_presigned_url("http", req,
                                       sigv4_presign(req, key, now, 300)));

    // HEAD is signed as HEAD: the signature differs.
    std::string head = signer->presigned_url("HEAD", blob_key, now, 300);
    EXPECT_NE(query_value(head, "X-Amz-Signature"),
              query_value(url, "X-Amz-Signature"));
}

TEST(BucketSigner, S3VirtualHostedOnAws)
{
    auto signer = BucketSigner::from_text(s3(""), aws_text);
    std::string url = signer->presigned_url("GET", blob_key, 1700000000, 60);
    std::string prefix =
        "https://images.s3.eu-west-1.amazonaws.com/" + blob_key + "?";
    EXPECT_EQ(url.substr(0, prefix.size()), prefix) << url;

    auto forced = BucketSigner::from_text(s3("", true), aws_text);
    url = forced->presigned_url("GET", blob_key, 1700000000, 60);
    prefix = "https://s3.eu-west-1.amazonaws.com/images/" + blob_key + "?";
    EXPECT_EQ(url.substr(0, prefix.size()), prefix) << url;
}

TEST(BucketSigner, RefusesOtherKeysAndMethods)
{
    auto signer = BucketSigner::from_text(s3("http://h"), aws_text);
    EXPECT_THROW(signer->presigned_url("GET", "layers/ab/" + hex, 1, 60),
                 std::invalid_argument);
    EXPECT_THROW(signer->presigned_url("PUT", blob_key, 1, 60),
                 std::invalid_argument);
    EXPECT_THROW(signer->presigned_url("GET", blob_key, 1, 0),
                 std::invalid_argument);
}

TEST(BucketSigner, ReadsTheCredentialsFile)
{
    EXPECT_THROW(BucketSigner(s3("http://h"), "/nonexistent/creds"),
                 BucketConfigError);
    try {
        BucketSigner(s3("http://h"), "/nonexistent/creds");
    } catch (const BucketConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/creds"),
                  std::string::npos);
    }
}

TEST(BucketSigner, GcsPathStyle)
{
    std::ifstream in(std::string(NIXERY_VECTORS_DIR) +
                     "/gcs-v4/test_service_account.not-a-test.json");
    std::ostringstream json;
    json << in.rdbuf();
    BucketSettings s;
    s.kind = BucketKind::gcs;
    s.name = "images";
    auto signer = BucketSigner::from_text(s, json.str());
    std::string url = signer->presigned_url("GET", blob_key, 1700000000, 300);
    std::string prefix =
        "https://storage.googleapis.com/images/" + blob_key + "?";
    EXPECT_EQ(url.substr(0, prefix.size()), prefix) << url;
    EXPECT_EQ(query_value(url, "X-Goog-Algorithm"), "GOOG4-RSA-SHA256");
    EXPECT_EQ(query_value(url, "X-Goog-Expires"), "300");
}

TEST(BucketSigner, GcsKeyErrorsNameTheSetting)
{
    BucketSettings s;
    s.kind = BucketKind::gcs;
    s.name = "images";
    EXPECT_THROW(BucketSigner::from_text(s, "AWS_ACCESS_KEY_ID=x\n", "f"),
                 BucketConfigError);
}

} // namespace
} // namespace nixery

namespace nixery {
namespace {

TEST(BucketSignerRedirect, OneSignatureAWindowValidAtLeastTtlMinusTheWindow)
{
    auto signer =
        BucketSigner::from_text(s3("http://127.0.0.1:7480"), aws_text);
    std::time_t start = 1700000100; // a multiple of 30
    std::string first = signer->redirect_url(blob_key, start + 1, 300);
    EXPECT_EQ(first, signer->presigned_url("GET", blob_key, start, 300))
        << "signed at the window's start";
    EXPECT_EQ(signer->redirect_url(blob_key, start + 29, 300), first)
        << "kept within the window";
    std::string next = signer->redirect_url(blob_key, start + 30, 300);
    EXPECT_NE(next, first) << "a new window signs again";
    EXPECT_EQ(next, signer->presigned_url("GET", blob_key, start + 30, 300));
    // Another key in the same window has its own URL.
    std::string other_key = "blobs/sha256/cd/cd" + std::string(62, 'c');
    EXPECT_EQ(signer->redirect_url(other_key, start + 31, 300),
              signer->presigned_url("GET", other_key, start + 30, 300));
    EXPECT_EQ(signer->redirect_url(blob_key, start + 31, 300), next);
}

TEST(BucketSignerRedirect, ShortTtlIsSignedEveryTime)
{
    auto signer =
        BucketSigner::from_text(s3("http://127.0.0.1:7480"), aws_text);
    std::time_t now = 1700000101;
    EXPECT_EQ(signer->redirect_url(blob_key, now, 9),
              signer->presigned_url("GET", blob_key, now, 9));
    EXPECT_EQ(signer->redirect_url(blob_key, now + 1, 9),
              signer->presigned_url("GET", blob_key, now + 1, 9));
}

TEST(BucketSignerRedirect, ANewTtlStartsAfresh)
{
    auto signer =
        BucketSigner::from_text(s3("http://127.0.0.1:7480"), aws_text);
    std::time_t start = 1700000100;
    std::string a = signer->redirect_url(blob_key, start, 300);
    std::string b = signer->redirect_url(blob_key, start, 600);
    EXPECT_NE(a, b);
    EXPECT_EQ(query_value(b, "X-Amz-Expires"), "600");
}

} // namespace
} // namespace nixery
