// AWS Signature Version 4 against the aws-c-auth suite and the S3
// documentation's examples (src/tests/vectors/aws-sigv4/README.md).
#include "sigv4.h"

#include "digest.h"
#include "json.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace nixery {
namespace {

const std::string vectors = std::string(NIXERY_VECTORS_DIR) + "/aws-sigv4";

std::string slurp(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in) << "cannot read " << path;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::time_t parse_time(const std::string& iso) // 2015-08-30T12:36:00Z
{
    std::tm tm{};
    EXPECT_NE(strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm), nullptr) << iso;
    return timegm(&tm);
}

std::vector<QueryParam> parse_query(const std::string& q)
{
    std::vector<QueryParam> out;
    std::size_t pos = 0;
    while (pos < q.size()) {
        std::size_t amp = q.find('&', pos);
        std::string part = q.substr(
            pos, amp == std::string::npos ? std::string::npos : amp - pos);
        std::size_t eq = part.find('=');
        if (eq == std::string::npos) {
            out.push_back({uri_decode(part), ""});
        } else {
            out.push_back({uri_decode(part.substr(0, eq)),
                           uri_decode(part.substr(eq + 1))});
        }
        if (amp == std::string::npos) {
            break;
        }
        pos = amp + 1;
    }
    return out;
}

// request.txt: "METHOD target HTTP/1.1", header lines (a line starting with
// whitespace continues the previous value), a blank line, the body.
struct RawRequest {
    std::string method;
    std::string target;
    std::string head; // request line and header lines, each with '\n'
    std::vector<Header> headers;
    std::string body;
};

RawRequest parse_request(const std::string& text)
{
    RawRequest r;
    std::size_t pos = 0;
    bool first = true;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        std::string line = text.substr(
            pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        if (line.empty()) {
            r.body = text.substr(pos);
            break;
        }
        r.head += line + '\n';
        if (first) {
            first = false;
            r.method = line.substr(0, line.find(' '));
            std::size_t end = line.rfind(' ');
            r.target =
                line.substr(r.method.size() + 1, end - r.method.size() - 1);
        } else if (line[0] == ' ' || line[0] == '\t') {
            r.headers.back().value += '\n' + line;
        } else {
            std::size_t colon = line.find(':');
            r.headers.push_back(
                {line.substr(0, colon), line.substr(colon + 1)});
        }
    }
    return r;
}

struct Case {
    std::string name;
    std::string dir;
    RawRequest raw;
    SigV4Request request;
    AwsCredentials credentials;
    std::string region;
    std::string service;
    std::time_t now = 0;
    std::int64_t expires = 0;
    SigV4Options options;
};

std::string json_str(json_t* obj, const char* key)
{
    const char* s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

Case load_case(const std::string& name)
{
    Case c;
    c.name = name;
    c.dir = vectors + "/v4/" + name;
    json_error_t err;
    JsonPtr ctx(json_load_file((c.dir + "/context.json").c_str(), 0, &err));
    EXPECT_TRUE(ctx) << name << ": " << err.text;
    json_t* creds = json_object_get(ctx.get(), "credentials");
    c.credentials.access_key_id = json_str(creds, "access_key_id");
    c.credentials.secret_access_key = json_str(creds, "secret_access_key");
    c.credentials.session_token = json_str(creds, "token");
    c.region = json_str(ctx.get(), "region");
    c.service = json_str(ctx.get(), "service");
    c.now = parse_time(json_str(ctx.get(), "timestamp"));
    c.expires =
        json_integer_value(json_object_get(ctx.get(), "expiration_in_seconds"));
    // `normalize` asks for the generic services' dot-segment removal and
    // slash merging. The suite's paths are what goes on the wire and it
    // encodes them once more; ours are raw paths encoded once, which is the
    // same bytes here (its expected paths show single escapes, e.g.
    // /example%20space/), so double_encode stays off (it has its own test
    // below).
    c.options.normalize_path =
        json_is_true(json_object_get(ctx.get(), "normalize"));
    c.options.add_content_sha256 =
        json_is_true(json_object_get(ctx.get(), "sign_body"));
    c.options.token_after_signing =
        json_is_true(json_object_get(ctx.get(), "omit_session_token"));

    c.raw = parse_request(slurp(c.dir + "/request.txt"));
    c.request.method = c.raw.method;
    std::string target = c.raw.target;
    std::size_t q = target.find('?');
    c.request.path = target.substr(0, q);
    if (q != std::string::npos) {
        c.request.query = parse_query(target.substr(q + 1));
    }
    c.request.headers = c.raw.headers;
    // Without sign_body the bodies are empty: the hash is always the body's.
    c.request.payload_hash = sha256_hex(c.raw.body);
    return c;
}

std::vector<std::string> case_names()
{
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(vectors + "/v4")) {
        names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

// Cases that cannot apply, by name, with the reason. None: every case of
// the suite applies, in both forms.
const std::set<std::string> skipped_header_cases = {};
const std::set<std::string> skipped_query_cases = {};

TEST(SigV4Vectors, AllCasesPresent)
{
    EXPECT_EQ(case_names().size(), 38u);
}

class SigV4Suite : public ::testing::TestWithParam<std::string> {};

TEST_P(SigV4Suite, HeaderForm)
{
    if (skipped_header_cases.count(GetParam()) != 0) {
        GTEST_SKIP() << "not applicable";
    }
    Case c = load_case(GetParam());
    SigV4Key key(c.credentials, iso8601_date(c.now), c.region, c.service);
    SigV4Result r = sigv4_sign_headers(c.request, key, c.now, c.options);
    EXPECT_EQ(r.canonical_request,
              slurp(c.dir + "/header-canonical-request.txt"));
    EXPECT_EQ(r.string_to_sign, slurp(c.dir + "/header-string-to-sign.txt"));
    EXPECT_EQ(r.signature, slurp(c.dir + "/header-signature.txt"));
    // The signed request: the request as given plus the added headers.
    std::string signed_request = c.raw.head;
    for (const auto& h : r.headers) {
        signed_request += h.name + ':' + h.value + '\n';
    }
    signed_request += '\n' + c.raw.body;
    EXPECT_EQ(signed_request, slurp(c.dir + "/header-signed-request.txt"));
}

// "name=value" pieces of a query string, sorted.
std::vector<std::string> query_pieces(const std::string& q)
{
    std::vector<std::string> out;
    std::stringstream s(q);
    std::string piece;
    while (std::getline(s, piece, '&')) {
        out.push_back(piece);
    }
    std::sort(out.begin(), out.end());
    return out;
}

TEST_P(SigV4Suite, QueryForm)
{
    if (skipped_query_cases.count(GetParam()) != 0) {
        GTEST_SKIP() << "not applicable";
    }
    Case c = load_case(GetParam());
    SigV4Key key(c.credentials, iso8601_date(c.now), c.region, c.service);
    SigV4Result r = sigv4_presign(c.request, key, c.now, c.expires, c.options);
    EXPECT_EQ(r.canonical_request,
              slurp(c.dir + "/query-canonical-request.txt"));
    EXPECT_EQ(r.string_to_sign, slurp(c.dir + "/query-string-to-sign.txt"));
    EXPECT_EQ(r.signature, slurp(c.dir + "/query-signature.txt"));

    // The signed request line keeps the request's own target and appends
    // the X-Amz-* parameters in aws-c-auth's order (SignedHeaders before
    // Expires); ours come sorted, so compare them as sets. The request's
    // own parameters in r.query are the canonical (sorted, encoded) ones,
    // already checked through the canonical request.
    RawRequest expected =
        parse_request(slurp(c.dir + "/query-signed-request.txt"));
    std::string prefix =
        c.raw.target +
        (c.raw.target.find('?') == std::string::npos ? "?" : "&");
    ASSERT_EQ(expected.target.compare(0, prefix.size(), prefix), 0)
        << expected.target;
    std::string expected_amz = expected.target.substr(prefix.size());
    std::vector<std::string> ours;
    for (const auto& piece : query_pieces(r.query)) {
        if (piece.starts_with("X-Amz-")) {
            ours.push_back(piece);
        }
    }
    EXPECT_EQ(ours, query_pieces(expected_amz));
    EXPECT_EQ(expected.method, c.raw.method);
    // The query form adds no header.
    std::string raw_headers = c.raw.head.substr(c.raw.head.find('\n') + 1);
    std::string expected_headers =
        expected.head.substr(expected.head.find('\n') + 1);
    EXPECT_EQ(expected_headers, raw_headers);
    EXPECT_EQ(expected.body, c.raw.body);
}

INSTANTIATE_TEST_SUITE_P(AwsCAuth, SigV4Suite,
                         ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             std::string n = info.param;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

// --- S3 documentation examples ------------------------------------------

TEST(SigV4S3Docs, FiveExamples)
{
    json_error_t err;
    JsonPtr doc(json_load_file(
        (vectors + "/s3-doc-examples/s3_doc_examples.json").c_str(), 0, &err));
    ASSERT_TRUE(doc) << err.text;
    json_t* creds = json_object_get(doc.get(), "credentials");
    AwsCredentials credentials{json_str(creds, "accessKeyId"),
                               json_str(creds, "secretAccessKey"), ""};
    std::string amz_date = json_str(doc.get(), "amzDate");
    std::tm tm{};
    ASSERT_NE(strptime(amz_date.c_str(), "%Y%m%dT%H%M%SZ", &tm), nullptr);
    std::time_t now = timegm(&tm);
    SigV4Key key(credentials, amz_date.substr(0, 8),
                 json_str(doc.get(), "region"), json_str(doc.get(), "service"));

    json_t* cases = json_object_get(doc.get(), "cases");
    ASSERT_EQ(json_array_size(cases), 5u);
    std::size_t i;
    json_t* c;
    json_array_foreach(cases, i, c)
    {
        std::string name = json_str(c, "name");
        SCOPED_TRACE(name);
        SigV4Request req;
        req.method = json_str(c, "method");
        req.path = json_str(c, "path");
        const char* k;
        json_t* v;
        json_object_foreach(json_object_get(c, "query"), k, v)
        {
            req.query.push_back({k, json_string_value(v)});
        }
        json_object_foreach(json_object_get(c, "headers"), k, v)
        {
            req.headers.push_back({k, json_string_value(v)});
        }
        req.payload_hash = json_str(c, "payloadHash");
        if (!json_str(c, "body").empty() ||
            req.payload_hash != unsigned_payload) {
            EXPECT_EQ(req.payload_hash, sha256_hex(json_str(c, "body")));
        }
        SigV4Result r;
        if (json_str(c, "auth") == "header") {
            r = sigv4_sign_headers(req, key, now);
            // The examples' requests carry X-Amz-Date and
            // x-amz-content-sha256 already: only Authorization is added.
            ASSERT_EQ(r.headers.size(), 1u);
            EXPECT_EQ(r.headers[0].name, "Authorization");
            EXPECT_EQ(r.headers[0].value, json_str(c, "authorization"));
        } else {
            r = sigv4_presign(
                req, key, now,
                json_integer_value(json_object_get(c, "expiresSeconds")));
            EXPECT_EQ(sigv4_presigned_url("https", req, r),
                      json_str(c, "signedUrl"));
        }
        EXPECT_EQ(r.canonical_request, json_str(c, "canonicalRequest"));
        EXPECT_EQ(r.string_to_sign, json_str(c, "stringToSign"));
        EXPECT_EQ(r.signature, json_str(c, "signature"));
    }
}

// --- The pieces ----------------------------------------------------------

TEST(SigV4, UriEncode)
{
    EXPECT_EQ(uri_encode("AZaz09-._~"), "AZaz09-._~");
    EXPECT_EQ(uri_encode("a b+c/d%e*!'()$&=?#"),
              "a%20b%2Bc%2Fd%25e%2A%21%27%28%29%24%26%3D%3F%23");
    EXPECT_EQ(uri_encode("/a b/c", true), "/a%20b/c");
    EXPECT_EQ(uri_encode("\xc3\xa9"), "%C3%A9");
    EXPECT_EQ(uri_decode("%E1%88%B4=%zz%4"), "\xe1\x88\xb4=%zz%4");
    EXPECT_EQ(uri_decode("a+b%2f"), "a+b/");
}

TEST(SigV4, NormalizePath)
{
    EXPECT_EQ(normalize_uri_path(""), "/");
    EXPECT_EQ(normalize_uri_path("/"), "/");
    EXPECT_EQ(normalize_uri_path("//example//"), "/example/");
    EXPECT_EQ(normalize_uri_path("/a/b/../c/./d"), "/a/c/d");
    EXPECT_EQ(normalize_uri_path("/a/b/.."), "/a/");
    EXPECT_EQ(normalize_uri_path("/../.."), "/");
}

TEST(SigV4, CanonicalPathS3AndGeneric)
{
    // S3: no normalisation, each segment encoded once.
    EXPECT_EQ(sigv4_canonical_path("/documents and settings/../x"),
              "/documents%20and%20settings/../x");
    // Other services: the AWS documentation's own example of double
    // encoding, "/documents and settings/" -> %2520.
    SigV4Options generic;
    generic.normalize_path = true;
    generic.double_encode = true;
    EXPECT_EQ(sigv4_canonical_path("/documents and settings/", generic),
              "/documents%2520and%2520settings/");
}

TEST(SigV4, CanonicalHeaders)
{
    CanonicalHeaders h = canonical_headers({{"Host", "h"},
                                            {"X-B", " a \t b  "},
                                            {"x-a", "1"},
                                            {"X-A", "2\n   3"}});
    EXPECT_EQ(h.block, "host:h\nx-a:1,2 3\nx-b:a b\n");
    EXPECT_EQ(h.names, "host;x-a;x-b");
}

SigV4Request s3_get(const std::string& path)
{
    SigV4Request r;
    r.method = "GET";
    r.path = path;
    r.headers = {{"Host", "examplebucket.s3.amazonaws.com"}};
    return r;
}

TEST(SigV4, KeyCacheDerivesOncePerDay)
{
    AwsCredentials creds{"AKIAIOSFODNN7EXAMPLE",
                         "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
    SigV4KeyCache cache(creds, "us-east-1", "s3");
    std::time_t day1 = 1369353600; // 2013-05-24T00:00:00Z
    const SigV4Key& k1 = cache.key_for(day1);
    EXPECT_EQ(k1.date(), "20130524");
    std::string sig1 =
        sigv4_presign(s3_get("/test.txt"), k1, day1, 86400).signature;
    // The documentation's presigned example.
    EXPECT_EQ(
        sig1,
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    for (int s = 1; s < 86400; s += 3600) {
        cache.key_for(day1 + s);
    }
    EXPECT_EQ(cache.derivations(), 1u);
    const SigV4Key& k2 = cache.key_for(day1 + 86400);
    EXPECT_EQ(k2.date(), "20130525");
    EXPECT_EQ(cache.derivations(), 2u);
    SigV4Key fresh(creds, "20130525", "us-east-1", "s3");
    EXPECT_EQ(sigv4_presign(s3_get("/x"), k2, day1 + 86400, 60).signature,
              sigv4_presign(s3_get("/x"), fresh, day1 + 86400, 60).signature);
}

TEST(SigV4, RefusesBadInputWithoutSecrets)
{
    AwsCredentials creds{"AKIDEXAMPLE", "very-secret-value", "secret-token"};
    SigV4Key key(creds, "20130524", "us-east-1", "s3");
    std::time_t day = 1369353600;
    auto message = [](auto&& f) -> std::string {
        try {
            f();
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return "no exception";
    };
    std::vector<std::string> errors = {
        message([&] { sigv4_presign(s3_get("/x"), key, day, 0); }),
        message([&] { sigv4_presign(s3_get("/x"), key, day, 604801); }),
        message([&] { sigv4_presign(s3_get("/x"), key, day - 1, 60); }),
        message([&] {
            SigV4Request r = s3_get("/x");
            r.headers.clear();
            sigv4_sign_headers(r, key, day);
        }),
        message([&] {
            SigV4Request r = s3_get("/x");
            r.query.push_back({"X-Amz-Signature", "x"});
            sigv4_presign(r, key, day, 60);
        }),
        message([&] {
            SigV4Request r = s3_get("/x");
            r.headers.push_back({"X-Amz-Date", "20000101T000000Z"});
            sigv4_sign_headers(r, key, day);
        }),
        message([&] { SigV4Key bad(creds, "2013-05-24", "us-east-1", "s3"); }),
    };
    for (const auto& e : errors) {
        EXPECT_NE(e, "no exception");
        EXPECT_EQ(e.find("very-secret-value"), std::string::npos) << e;
        EXPECT_EQ(e.find("secret-token"), std::string::npos) << e;
    }
    EXPECT_NE(errors[2].find("20130524"), std::string::npos) << errors[2];
}

TEST(SigV4, SessionTokenInBothForms)
{
    AwsCredentials creds{"AKIDEXAMPLE", "secret", "tok/en+="};
    SigV4Key key(creds, "20130524", "us-east-1", "s3");
    std::time_t day = 1369353600;
    SigV4Result h = sigv4_sign_headers(s3_get("/x"), key, day);
    ASSERT_EQ(h.headers.size(), 3u);
    EXPECT_EQ(h.headers[0].name, "X-Amz-Security-Token");
    EXPECT_NE(h.canonical_request.find("x-amz-security-token:tok/en+=\n"),
              std::string::npos);
    SigV4Result q = sigv4_presign(s3_get("/x"), key, day, 60);
    EXPECT_NE(q.query.find("&X-Amz-Security-Token=tok%2Fen%2B%3D&"),
              std::string::npos)
        << q.query;
}

} // namespace
} // namespace nixery
