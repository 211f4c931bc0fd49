#include "sigv4.h"

#include "digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <utility>

namespace nixery {

namespace {

constexpr char hex_digits[] = "0123456789ABCDEF";

bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string lowercase(std::string_view s)
{
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

using Mac = std::array<unsigned char, 32>;

Mac hmac_sha256(const unsigned char* key, std::size_t key_size,
                std::string_view data)
{
    Mac out{};
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key, static_cast<int>(key_size),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(),
             out.data(), &len) == nullptr ||
        len != out.size()) {
        throw std::runtime_error("sigv4: HMAC-SHA256 failed");
    }
    return out;
}

std::tm utc(std::time_t t)
{
    std::tm tm{};
    if (gmtime_r(&t, &tm) == nullptr) {
        throw std::invalid_argument("sigv4: time out of range");
    }
    return tm;
}

void check_expires(std::int64_t expires)
{
    if (expires < 1 || expires > max_presign_expires) {
        throw std::invalid_argument(
            "presign: expiry must be 1 to 604800 seconds, got " +
            std::to_string(expires));
    }
}

const Header* find_header(const std::vector<Header>& headers,
                          std::string_view lower_name)
{
    for (const auto& h : headers) {
        if (lowercase(h.name) == lower_name) {
            return &h;
        }
    }
    return nullptr;
}

struct Prepared {
    std::string amz_date;
    std::string canonical_request;
    std::string string_to_sign;
    std::string signed_headers;
};

// The canonical request and string to sign of `headers` and `query` (both
// already holding whatever X-Amz-* the form adds).
Prepared prepare(const SigV4Request& request, const SigV4Key& key,
                 std::time_t now, const std::vector<Header>& headers,
                 const std::vector<QueryParam>& query,
                 const SigV4Options& options)
{
    Prepared p;
    p.amz_date = iso8601_basic(now);
    if (p.amz_date.compare(0, 8, key.date()) != 0) {
        throw std::invalid_argument("sigv4: signing time " + p.amz_date +
                                    " is not on the key's date " + key.date());
    }
    if (find_header(headers, "host") == nullptr) {
        throw std::invalid_argument("sigv4: the request has no Host header");
    }
    if (request.method.empty()) {
        throw std::invalid_argument("sigv4: the request has no method");
    }
    CanonicalHeaders ch = canonical_headers(headers);
    p.signed_headers = ch.names;
    p.canonical_request = request.method;
    p.canonical_request += '\n';
    p.canonical_request += sigv4_canonical_path(request.path, options);
    p.canonical_request += '\n';
    p.canonical_request += canonical_query(query);
    p.canonical_request += '\n';
    p.canonical_request += ch.block;
    p.canonical_request += '\n';
    p.canonical_request += ch.names;
    p.canonical_request += '\n';
    p.canonical_request += request.payload_hash;

    p.string_to_sign = std::string(sigv4_algorithm);
    p.string_to_sign += '\n';
    p.string_to_sign += p.amz_date;
    p.string_to_sign += '\n';
    p.string_to_sign += key.scope();
    p.string_to_sign += '\n';
    p.string_to_sign += sha256_hex(p.canonical_request);
    return p;
}

} // namespace

// --- Canonical forms -----------------------------------------------------

std::string uri_encode(std::string_view s, bool keep_slash)
{
    std::string out;
    out.reserve(s.size() * 3);
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(hex_digits[c >> 4]);
            out.push_back(hex_digits[c & 0x0f]);
        }
    }
    return out;
}

std::string uri_decode(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            int hi = hex_value(s[i + 1]);
            int lo = hex_value(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(s[i]);
    }
    return out;
}

std::string normalize_uri_path(std::string_view path)
{
    std::vector<std::string_view> segments;
    bool trailing_slash = false;
    std::size_t pos = 0;
    while (pos <= path.size()) {
        std::size_t slash = path.find('/', pos);
        std::size_t end = slash == std::string_view::npos ? path.size() : slash;
        std::string_view seg = path.substr(pos, end - pos);
        bool last = slash == std::string_view::npos;
        if (seg == "..") {
            if (!segments.empty()) {
                segments.pop_back();
            }
        } else if (!seg.empty() && seg != ".") {
            segments.push_back(seg);
        }
        if (last) {
            // "a/", "a/." and "a/.." name a directory: keep the slash.
            trailing_slash = seg.empty() || seg == "." || seg == "..";
            break;
        }
        pos = slash + 1;
    }
    std::string out;
    for (auto seg : segments) {
        out += '/';
        out += seg;
    }
    if (out.empty() || trailing_slash) {
        out += '/';
    }
    return out;
}

std::string canonical_query(const std::vector<QueryParam>& params)
{
    std::vector<std::pair<std::string, std::string>> encoded;
    encoded.reserve(params.size());
    for (const auto& p : params) {
        encoded.emplace_back(uri_encode(p.name), uri_encode(p.value));
    }
    std::sort(encoded.begin(), encoded.end());
    std::string out;
    for (const auto& [name, value] : encoded) {
        if (!out.empty()) {
            out += '&';
        }
        out += name;
        out += '=';
        out += value;
    }
    return out;
}

std::string canonical_header_value(std::string_view value)
{
    std::string out;
    out.reserve(value.size());
    bool pending_space = false;
    for (char c : value) {
        if (is_space(c)) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) {
            out.push_back(' ');
            pending_space = false;
        }
        out.push_back(c);
    }
    return out;
}

CanonicalHeaders canonical_headers(const std::vector<Header>& headers)
{
    // std::map sorts by the lowercased name, bytewise.
    std::map<std::string, std::string> joined;
    for (const auto& h : headers) {
        auto [it, fresh] = joined.try_emplace(lowercase(h.name));
        if (!fresh) {
            it->second += ',';
        }
        it->second += canonical_header_value(h.value);
    }
    CanonicalHeaders out;
    for (const auto& [name, value] : joined) {
        out.block += name;
        out.block += ':';
        out.block += value;
        out.block += '\n';
        if (!out.names.empty()) {
            out.names += ';';
        }
        out.names += name;
    }
    return out;
}

std::string iso8601_basic(std::time_t t)
{
    std::tm tm = utc(t);
    char buf[32];
    std::size_t n = std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    if (n != 16) {
        throw std::invalid_argument("sigv4: time out of range");
    }
    return std::string(buf, n);
}

std::string iso8601_date(std::time_t t)
{
    return iso8601_basic(t).substr(0, 8);
}

std::string to_hex(const unsigned char* data, std::size_t size)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out.push_back(digits[data[i] >> 4]);
        out.push_back(digits[data[i] & 0x0f]);
    }
    return out;
}

// --- Keys ----------------------------------------------------------------

SigV4Key::SigV4Key(const AwsCredentials& credentials, std::string_view date,
                   std::string_view region, std::string_view service)
    : access_key_id_(credentials.access_key_id),
      session_token_(credentials.session_token), date_(date), region_(region),
      service_(service)
{
    if (date_.size() != 8 ||
        !std::all_of(date_.begin(), date_.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
        throw std::invalid_argument("sigv4: the key's date must be YYYYMMDD");
    }
    if (access_key_id_.empty() || credentials.secret_access_key.empty()) {
        throw std::invalid_argument(
            "sigv4: credentials need an access key id and a secret");
    }
    if (region_.empty() || service_.empty()) {
        throw std::invalid_argument("sigv4: the key needs a region and a "
                                    "service");
    }
    std::string k = "AWS4" + credentials.secret_access_key;
    Mac k_date = hmac_sha256(reinterpret_cast<const unsigned char*>(k.data()),
                             k.size(), date_);
    OPENSSL_cleanse(k.data(), k.size());
    Mac k_region = hmac_sha256(k_date.data(), k_date.size(), region_);
    Mac k_service = hmac_sha256(k_region.data(), k_region.size(), service_);
    key_ = hmac_sha256(k_service.data(), k_service.size(), "aws4_request");
    OPENSSL_cleanse(k_date.data(), k_date.size());
    OPENSSL_cleanse(k_region.data(), k_region.size());
    OPENSSL_cleanse(k_service.data(), k_service.size());
}

SigV4Key::~SigV4Key()
{
    OPENSSL_cleanse(key_.data(), key_.size());
}

SigV4Key::SigV4Key(const SigV4Key& other) = default;
SigV4Key& SigV4Key::operator=(const SigV4Key& other) = default;

std::string SigV4Key::scope() const
{
    return date_ + '/' + region_ + '/' + service_ + "/aws4_request";
}

std::string SigV4Key::sign(std::string_view data) const
{
    Mac mac = hmac_sha256(key_.data(), key_.size(), data);
    return to_hex(mac.data(), mac.size());
}

SigV4KeyCache::SigV4KeyCache(AwsCredentials credentials, std::string region,
                             std::string service)
    : credentials_(std::move(credentials)), region_(std::move(region)),
      service_(std::move(service))
{
}

SigV4KeyCache::~SigV4KeyCache()
{
    OPENSSL_cleanse(credentials_.secret_access_key.data(),
                    credentials_.secret_access_key.size());
}

const SigV4Key& SigV4KeyCache::key_for(std::time_t now)
{
    std::string date = iso8601_date(now);
    if (current_.empty() || current_.front().date() != date) {
        current_.clear();
        current_.emplace_back(credentials_, date, region_, service_);
        ++derivations_;
    }
    return current_.front();
}

// --- Signing -------------------------------------------------------------

std::string sigv4_canonical_path(std::string_view path,
                                 const SigV4Options& options)
{
    std::string p =
        options.normalize_path ? normalize_uri_path(path) : std::string(path);
    if (p.empty()) {
        p = "/";
    }
    std::string encoded = uri_encode(p, true);
    return options.double_encode ? uri_encode(encoded, true) : encoded;
}

SigV4Result sigv4_sign_headers(const SigV4Request& request, const SigV4Key& key,
                               std::time_t now, const SigV4Options& options)
{
    std::string amz_date = iso8601_basic(now);
    std::vector<Header> added;
    bool sign_token =
        !key.session_token().empty() && !options.token_after_signing &&
        find_header(request.headers, "x-amz-security-token") == nullptr;
    if (!key.session_token().empty() &&
        find_header(request.headers, "x-amz-security-token") == nullptr) {
        added.push_back({"X-Amz-Security-Token", key.session_token()});
    }
    if (const Header* h = find_header(request.headers, "x-amz-date")) {
        if (canonical_header_value(h->value) != amz_date) {
            throw std::invalid_argument("sigv4: the request's X-Amz-Date is "
                                        "not the signing time " +
                                        amz_date);
        }
    } else {
        added.push_back({"X-Amz-Date", amz_date});
    }
    if (const Header* h =
            find_header(request.headers, "x-amz-content-sha256")) {
        if (canonical_header_value(h->value) != request.payload_hash) {
            throw std::invalid_argument("sigv4: the request's "
                                        "x-amz-content-sha256 is not its "
                                        "payload hash");
        }
    } else if (options.add_content_sha256) {
        added.push_back({"x-amz-content-sha256", request.payload_hash});
    }

    std::vector<Header> headers = request.headers;
    for (const auto& h : added) {
        if (h.name != "X-Amz-Security-Token" || sign_token) {
            headers.push_back(h);
        }
    }
    Prepared p = prepare(request, key, now, headers, request.query, options);

    SigV4Result out;
    out.signature = key.sign(p.string_to_sign);
    out.canonical_request = std::move(p.canonical_request);
    out.string_to_sign = std::move(p.string_to_sign);
    out.headers = std::move(added);
    out.headers.push_back(
        {"Authorization",
         std::string(sigv4_algorithm) + " Credential=" + key.access_key_id() +
             '/' + key.scope() + ", SignedHeaders=" + p.signed_headers +
             ", Signature=" + out.signature});
    return out;
}

SigV4Result sigv4_presign(const SigV4Request& request, const SigV4Key& key,
                          std::time_t now, std::int64_t expires,
                          const SigV4Options& options)
{
    check_expires(expires);
    CanonicalHeaders ch = canonical_headers(request.headers);
    std::vector<QueryParam> query = request.query;
    for (const auto& q : query) {
        if (lowercase(q.name).starts_with("x-amz-")) {
            throw std::invalid_argument("sigv4: the request already has the "
                                        "query parameter " +
                                        q.name);
        }
    }
    query.push_back({"X-Amz-Algorithm", std::string(sigv4_algorithm)});
    query.push_back(
        {"X-Amz-Credential", key.access_key_id() + '/' + key.scope()});
    query.push_back({"X-Amz-Date", iso8601_basic(now)});
    query.push_back({"X-Amz-Expires", std::to_string(expires)});
    bool has_token = !key.session_token().empty();
    if (has_token && !options.token_after_signing) {
        query.push_back({"X-Amz-Security-Token", key.session_token()});
    }
    query.push_back({"X-Amz-SignedHeaders", ch.names});

    Prepared p = prepare(request, key, now, request.headers, query, options);
    SigV4Result out;
    out.signature = key.sign(p.string_to_sign);
    out.query = canonical_query(query);
    if (has_token && options.token_after_signing) {
        out.query += "&X-Amz-Security-Token=" + uri_encode(key.session_token());
    }
    out.query += "&X-Amz-Signature=" + out.signature;
    out.canonical_request = std::move(p.canonical_request);
    out.string_to_sign = std::move(p.string_to_sign);
    return out;
}

std::string sigv4_presigned_url(std::string_view scheme,
                                const SigV4Request& request,
                                const SigV4Result& presigned)
{
    const Header* host = find_header(request.headers, "host");
    if (host == nullptr) {
        throw std::invalid_argument("sigv4: the request has no Host header");
    }
    std::string path = request.path.empty() ? "/" : request.path;
    return std::string(scheme) + "://" + canonical_header_value(host->value) +
           uri_encode(path, true) + '?' + presigned.query;
}

} // namespace nixery
