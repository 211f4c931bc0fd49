#include "digest.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace nixery {

struct Sha256::State {
    EVP_MD_CTX* ctx = nullptr;
    ~State() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : state_(std::make_unique<State>())
{
    state_->ctx = EVP_MD_CTX_new();
    if (state_->ctx == nullptr ||
        EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("sha256: cannot initialise OpenSSL digest");
    }
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, std::size_t size)
{
    if (EVP_DigestUpdate(state_->ctx, data, size) != 1) {
        throw std::runtime_error("sha256: digest update failed");
    }
}

std::string Sha256::hex_digest()
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(state_->ctx, md, &len) != 1) {
        throw std::runtime_error("sha256: digest final failed");
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(digits[md[i] >> 4]);
        out.push_back(digits[md[i] & 0x0f]);
    }
    return out;
}

std::string sha256_hex(std::string_view data)
{
    Sha256 h;
    h.update(data);
    return h.hex_digest();
}

namespace {

bool is_lower_hex(std::string_view hex, std::size_t length) noexcept
{
    if (hex.size() != length) {
        return false;
    }
    for (char c : hex) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

} // namespace

bool is_sha256_hex(std::string_view hex) noexcept
{
    return is_lower_hex(hex, sha256_hex_length);
}

ParsedDigest parse_digest(std::string_view digest) noexcept
{
    auto colon = digest.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return {DigestError::malformed, {}};
    }
    std::string_view alg = digest.substr(0, colon);
    std::string_view hex = digest.substr(colon + 1);
    // The spec's algorithm grammar: [a-z0-9]+ ([+._-] [a-z0-9]+)*
    for (char c : alg) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '.' || c == '_' || c == '-';
        if (!ok) {
            return {DigestError::malformed, {}};
        }
    }
    if (alg == "sha512") {
        return {is_lower_hex(hex, 128) ? DigestError::other_registered
                                       : DigestError::malformed,
                {}};
    }
    if (alg != "sha256") {
        return {DigestError::unsupported_algorithm, {}};
    }
    if (!is_sha256_hex(hex)) {
        return {DigestError::malformed, {}};
    }
    return {DigestError::none, hex};
}

} // namespace nixery
