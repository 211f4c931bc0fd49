#include "gcs_sign.h"

#include "atomic_file.h"
#include "digest.h"
#include "json.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <utility>

namespace nixery {

namespace {

// Key files are a few kilobytes; anything much larger is not one.
constexpr std::size_t max_key_file = 64 * 1024;

struct BioDeleter {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

// Wipes a string holding key material when it goes out of scope.
struct Wipe {
    std::string& s;
    ~Wipe() { OPENSSL_cleanse(s.data(), s.size()); }
};

struct Endpoint {
    std::string scheme;
    std::string authority; // host[:port]
    std::string host;      // without the port: what the Host header signs
};

Endpoint parse_endpoint(std::string_view endpoint)
{
    Endpoint e;
    std::string_view rest = endpoint;
    auto sep = rest.find("://");
    if (sep == std::string_view::npos) {
        e.scheme = "https";
    } else {
        e.scheme = std::string(rest.substr(0, sep));
        rest.remove_prefix(sep + 3);
    }
    while (!rest.empty() && rest.back() == '/') {
        rest.remove_suffix(1);
    }
    if ((e.scheme != "https" && e.scheme != "http") || rest.empty() ||
        rest.find_first_of("/?#@ ") != std::string_view::npos) {
        throw std::invalid_argument("gcs: bad endpoint \"" +
                                    std::string(endpoint) +
                                    "\" (want scheme://host[:port])");
    }
    e.authority = std::string(rest);
    // Google's clients sign the host without its port ("localhost" for
    // http://localhost:8080), as the conformance vectors expect.
    std::string_view host = rest;
    if (host.front() == '[') {
        auto close = host.find(']');
        host = host.substr(0, close == std::string_view::npos ? host.size()
                                                              : close + 1);
    } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
        host = host.substr(0, colon);
    }
    e.host = std::string(host);
    return e;
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

} // namespace

struct GcsSigner::Key {
    EVP_PKEY* pkey = nullptr;
    ~Key() { EVP_PKEY_free(pkey); }
};

GcsSigner::GcsSigner(std::string client_email, std::unique_ptr<Key> key)
    : client_email_(std::move(client_email)), key_(std::move(key))
{
}

GcsSigner::GcsSigner(GcsSigner&&) noexcept = default;
GcsSigner& GcsSigner::operator=(GcsSigner&&) noexcept = default;
GcsSigner::~GcsSigner() = default;

GcsSigner GcsSigner::from_key_file(const std::string& path)
{
    auto text = read_small_file(path, max_key_file);
    if (!text) {
        throw GcsKeyError("gcs key " + path +
                          ": cannot read it (or it is over 64 KiB)");
    }
    Wipe wipe{*text};
    return from_json(*text, path);
}

GcsSigner GcsSigner::from_json(std::string_view json, std::string_view origin)
{
    std::string where = "gcs key " + std::string(origin) + ": ";
    json_error_t error;
    // No line or text from jansson's error: it could quote the key.
    JsonPtr root(json_loadb(json.data(), json.size(), 0, &error));
    if (!root || !json_is_object(root.get())) {
        throw GcsKeyError(where + "not a JSON object");
    }
    const char* email =
        json_string_value(json_object_get(root.get(), "client_email"));
    json_t* pem_value = json_object_get(root.get(), "private_key");
    if (email == nullptr || *email == '\0') {
        throw GcsKeyError(where + "no \"client_email\" string");
    }
    if (!json_is_string(pem_value) || json_string_length(pem_value) == 0) {
        throw GcsKeyError(where + "no \"private_key\" string");
    }
    std::string pem(json_string_value(pem_value),
                    json_string_length(pem_value));
    Wipe wipe{pem};
    // Jansson's copy of the PEM goes with the document; overwrite it first.
    OPENSSL_cleanse(const_cast<char*>(json_string_value(pem_value)),
                    json_string_length(pem_value));

    std::unique_ptr<BIO, BioDeleter> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) {
        throw GcsKeyError(where + "out of memory");
    }
    auto key = std::make_unique<Key>();
    key->pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    // OpenSSL's queued errors are about the key's bytes: drop them.
    ERR_clear_error();
    if (key->pkey == nullptr) {
        throw GcsKeyError(where + "\"private_key\" is not a PEM private key");
    }
    if (EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA) {
        throw GcsKeyError(where + "\"private_key\" is not an RSA key");
    }
    return GcsSigner(email, std::move(key));
}

std::string GcsSigner::sign_hex(std::string_view data) const
{
    std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
    std::size_t len = 0;
    // RSA keys sign with PKCS #1 v1.5 padding unless told otherwise.
    if (!ctx ||
        EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                           key_->pkey) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len,
                       reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) != 1) {
        ERR_clear_error();
        throw std::runtime_error("gcs: RSA-SHA256 signing failed");
    }
    std::string sig(len, '\0');
    auto* out = reinterpret_cast<unsigned char*>(sig.data());
    if (EVP_DigestSign(ctx.get(), out, &len,
                       reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) != 1) {
        ERR_clear_error();
        throw std::runtime_error("gcs: RSA-SHA256 signing failed");
    }
    return to_hex(out, len);
}

GcsSignedUrl gcs_signed_url(const GcsSigner& signer,
                            const GcsUrlRequest& request)
{
    if (request.bucket.empty() && request.style != GcsUrlStyle::bucket_bound) {
        throw std::invalid_argument("gcs: no bucket");
    }
    if (request.method.empty()) {
        throw std::invalid_argument("gcs: no method");
    }
    if (request.expires < 1 || request.expires > max_presign_expires) {
        throw std::invalid_argument(
            "gcs: expiry must be 1 to 604800 seconds, got " +
            std::to_string(request.expires));
    }
    Endpoint ep = parse_endpoint(request.endpoint);
    std::string authority = ep.authority;
    std::string host = ep.host;
    std::string path;
    switch (request.style) {
    case GcsUrlStyle::path:
        path = '/' + request.bucket;
        if (!request.object.empty()) {
            path += '/' + request.object;
        }
        break;
    case GcsUrlStyle::virtual_hosted:
        authority = request.bucket + '.' + authority;
        host = request.bucket + '.' + host;
        path = '/' + request.object;
        break;
    case GcsUrlStyle::bucket_bound:
        path = '/' + request.object;
        break;
    }
    std::string encoded_path = uri_encode(path, true);

    std::vector<Header> headers = request.headers;
    std::string payload_hash = request.payload_hash;
    for (const auto& h : headers) {
        std::string name = lowercase(h.name);
        if (name == "host") {
            throw std::invalid_argument("gcs: the Host header comes from the "
                                        "endpoint, do not give it");
        }
        if (payload_hash.empty() && name == "x-goog-content-sha256") {
            payload_hash = canonical_header_value(h.value);
        }
    }
    if (payload_hash.empty()) {
        payload_hash = std::string(unsigned_payload);
    }
    headers.push_back({"host", host});
    CanonicalHeaders ch = canonical_headers(headers);

    std::string datetime = iso8601_basic(request.now);
    std::string scope = datetime.substr(0, 8) + "/auto/storage/goog4_request";
    std::vector<QueryParam> query = request.query;
    for (const auto& q : query) {
        std::string name = lowercase(q.name);
        if (name == "x-goog-algorithm" || name == "x-goog-credential" ||
            name == "x-goog-date" || name == "x-goog-expires" ||
            name == "x-goog-signedheaders" || name == "x-goog-signature") {
            throw std::invalid_argument("gcs: the query parameter " + q.name +
                                        " is the signer's");
        }
    }
    query.push_back({"X-Goog-Algorithm", std::string(gcs_algorithm)});
    query.push_back({"X-Goog-Credential", signer.client_email() + '/' + scope});
    query.push_back({"X-Goog-Date", datetime});
    query.push_back({"X-Goog-Expires", std::to_string(request.expires)});
    query.push_back({"X-Goog-SignedHeaders", ch.names});
    std::string cq = canonical_query(query);

    GcsSignedUrl out;
    out.canonical_request = request.method + '\n' + encoded_path + '\n' + cq +
                            '\n' + ch.block + '\n' + ch.names + '\n' +
                            payload_hash;
    out.string_to_sign = std::string(gcs_algorithm) + '\n' + datetime + '\n' +
                         scope + '\n' + sha256_hex(out.canonical_request);
    out.signature = signer.sign_hex(out.string_to_sign);
    out.url = ep.scheme + "://" + authority + encoded_path + '?' + cq +
              "&X-Goog-Signature=" + out.signature;
    return out;
}

} // namespace nixery
