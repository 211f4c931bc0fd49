#include "bucket_signer.h"

#include "atomic_file.h"
#include "digest.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace nixery {

namespace {

// Credentials files are small; anything longer is not one.
constexpr std::size_t max_credentials_size = 64 * 1024;

bool is_lower_hex(std::string_view s) noexcept
{
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

// "<dir>/<hh>/<hex>" with 64 hex digits and <hh> their first two.
bool is_fanned(std::string_view key, std::string_view dir) noexcept
{
    if (key.size() != dir.size() + 1 + 2 + 1 + sha256_hex_length ||
        key.substr(0, dir.size()) != dir || key[dir.size()] != '/') {
        return false;
    }
    std::string_view rest = key.substr(dir.size() + 1);
    std::string_view hh = rest.substr(0, 2);
    std::string_view hex = rest.substr(3);
    return rest[2] == '/' && is_lower_hex(hex) && hex.substr(0, 2) == hh;
}

std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

} // namespace

BucketEndpoint parse_bucket_endpoint(std::string_view url)
{
    BucketEndpoint out;
    auto sep = url.find("://");
    if (sep == std::string_view::npos) {
        throw BucketConfigError("endpoint \"" + std::string(url) +
                                "\" is not <scheme>://<host>[:<port>]");
    }
    out.scheme = std::string(url.substr(0, sep));
    if (out.scheme != "http" && out.scheme != "https") {
        throw BucketConfigError("endpoint \"" + std::string(url) +
                                "\": the scheme must be http or https");
    }
    std::string_view authority = url.substr(sep + 3);
    if (!authority.empty() && authority.back() == '/') {
        authority.remove_suffix(1);
    }
    if (authority.empty() ||
        authority.find_first_of("/?#@ \t") != std::string_view::npos) {
        throw BucketConfigError(
            "endpoint \"" + std::string(url) +
            "\" must be <scheme>://<host>[:<port>], without a path");
    }
    out.authority = std::string(authority);
    return out;
}

AwsCredentials parse_aws_credentials(std::string_view text,
                                     std::string_view origin)
{
    AwsCredentials c;
    std::size_t line_no = 0;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view{}
                                            : text.substr(nl + 1);
        ++line_no;
        if (line.empty() || line.front() == '#') {
            continue;
        }
        if (line.substr(0, 7) == "export ") {
            line = trim(line.substr(7));
        }
        auto eq = line.find('=');
        if (eq == std::string_view::npos) {
            // The line may hold a secret: say where, not what.
            throw BucketConfigError(std::string(origin) + ": line " +
                                    std::to_string(line_no) +
                                    " is not KEY=value");
        }
        std::string_view name = trim(line.substr(0, eq));
        std::string_view value = trim(line.substr(eq + 1));
        if (value.size() >= 2 &&
            (value.front() == '"' || value.front() == '\'') &&
            value.back() == value.front()) {
            value = value.substr(1, value.size() - 2);
        }
        if (name == "AWS_ACCESS_KEY_ID") {
            c.access_key_id = std::string(value);
        } else if (name == "AWS_SECRET_ACCESS_KEY") {
            c.secret_access_key = std::string(value);
        } else if (name == "AWS_SESSION_TOKEN") {
            c.session_token = std::string(value);
        }
        // Other names (AWS_REGION, comments of other tools) are ignored.
    }
    for (auto [name, value] :
         {std::pair{"AWS_ACCESS_KEY_ID", &c.access_key_id},
          std::pair{"AWS_SECRET_ACCESS_KEY", &c.secret_access_key}}) {
        if (value->empty()) {
            throw BucketConfigError(std::string(origin) + " has no " + name);
        }
    }
    return c;
}

bool is_bucket_key(std::string_view key) noexcept
{
    return is_fanned(key, "blobs/sha256") ||
           is_fanned(key, "manifests/docker") ||
           is_fanned(key, "manifests/oci") ||
           is_fanned(key, "manifests/docker-list") ||
           is_fanned(key, "manifests/oci-index") || is_fanned(key, "index");
}

BucketSigner::BucketSigner(Tag, BucketSettings settings)
    : settings_(std::move(settings))
{
    if (settings_.name.empty()) {
        throw BucketConfigError("the bucket has no name");
    }
    std::string endpoint = settings_.endpoint;
    if (endpoint.empty()) {
        endpoint = settings_.kind == BucketKind::gcs
                       ? std::string(gcs_default_endpoint)
                       : "https://s3." + settings_.region + ".amazonaws.com";
    }
    endpoint_ = parse_bucket_endpoint(endpoint);
    path_style_ = settings_.path_style.value_or(
        settings_.kind == BucketKind::gcs || !settings_.endpoint.empty());
    // A bucket name goes into a host name (virtual-hosted style) or a path:
    // keep to what both S3 and GCS allow.
    for (char ch : settings_.name) {
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.' || ch == '_')) {
            throw BucketConfigError("bucket name \"" + settings_.name +
                                    "\": only a-z, 0-9, '-', '.' and '_'");
        }
    }
}

BucketSigner::BucketSigner(BucketSettings settings,
                           const std::string& credentials_file)
    : BucketSigner(Tag{}, std::move(settings))
{
    errno = 0;
    std::optional<std::string> text =
        read_small_file(credentials_file, max_credentials_size);
    if (!text) {
        int err = errno;
        throw BucketConfigError(
            "cannot read the credentials file \"" + credentials_file + "\"" +
            (err != 0 ? std::string(": ") + std::strerror(err)
                      : std::string(" (too large?)")));
    }
    load(*text, "credentials file \"" + credentials_file + "\"");
    // The file's copy in memory held the secret: wipe it.
    std::fill(text->begin(), text->end(), '\0');
}

std::unique_ptr<BucketSigner>
BucketSigner::from_text(BucketSettings settings, std::string_view credentials,
                        std::string_view origin)
{
    std::unique_ptr<BucketSigner> s(
        new BucketSigner(Tag{}, std::move(settings)));
    s->load(credentials, origin);
    return s;
}

BucketSigner::~BucketSigner() = default;

void BucketSigner::load(std::string_view credentials, std::string_view origin)
{
    if (settings_.kind == BucketKind::s3) {
        aws_ = std::make_unique<SigV4KeyCache>(
            parse_aws_credentials(credentials, origin), settings_.region, "s3");
        return;
    }
    try {
        gcs_ = std::make_unique<GcsSigner>(
            GcsSigner::from_json(credentials, origin));
    } catch (const GcsKeyError& e) {
        throw BucketConfigError(e.what());
    }
}

std::string BucketSigner::presigned_url(std::string_view method,
                                        std::string_view key, std::time_t now,
                                        std::int64_t ttl)
{
    if (!is_bucket_key(key)) {
        throw std::invalid_argument("not a key of the storage layout");
    }
    if (method != "GET" && method != "HEAD") {
        throw std::invalid_argument("only GET and HEAD are signed");
    }
    if (gcs_) {
        GcsUrlRequest req;
        req.method = std::string(method);
        req.bucket = settings_.name;
        req.object = std::string(key);
        req.now = now;
        req.expires = ttl;
        req.endpoint = endpoint_.scheme + "://" + endpoint_.authority;
        req.style =
            path_style_ ? GcsUrlStyle::path : GcsUrlStyle::virtual_hosted;
        return gcs_signed_url(*gcs_, req).url;
    }
    SigV4Request req;
    req.method = std::string(method);
    std::string host;
    if (path_style_) {
        host = endpoint_.authority;
        req.path = "/" + settings_.name + "/" + std::string(key);
    } else {
        host = settings_.name + "." + endpoint_.authority;
        req.path = "/" + std::string(key);
    }
    req.headers.push_back({"Host", host});
    SigV4Result signed_req = sigv4_presign(req, aws_->key_for(now), now, ttl);
    return sigv4_presigned_url(endpoint_.scheme, req, signed_req);
}

const std::string& BucketSigner::redirect_url(std::string_view key,
                                              std::time_t now, std::int64_t ttl)
{
    // Entries of one window only: a new window (or ttl) starts afresh, so
    // the map holds at most the blobs asked for within one window.
    constexpr std::size_t max_entries = 8192;
    std::int64_t window = std::min<std::int64_t>(ttl / 10, 60);
    if (window < 1) {
        uncached_ = presigned_url("GET", key, now, ttl);
        return uncached_;
    }
    std::time_t start = now - now % window;
    if (start != redirects_start_ || ttl != redirects_ttl_ ||
        redirects_.size() >= max_entries) {
        redirects_.clear();
        redirects_start_ = start;
        redirects_ttl_ = ttl;
    }
    auto it = redirects_.find(key);
    if (it == redirects_.end()) {
        it = redirects_
                 .emplace(std::string(key),
                          presigned_url("GET", key, start, ttl))
                 .first;
    }
    return it->second;
}

} // namespace nixery
