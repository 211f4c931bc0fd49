// Content digests: SHA-256 through OpenSSL, and the registry's
// "sha256:<hex>" digest strings.
//
// Everything stored is content-addressed by the SHA-256 of its bytes; the
// module validates digests from URLs with parse_digest() before they come
// anywhere near a file path.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace nixery {

inline constexpr std::size_t sha256_hex_length = 64;

// Incremental SHA-256.
class Sha256 {
  public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(const void* data, std::size_t size);
    void update(std::string_view data) { update(data.data(), data.size()); }
    // Lowercase hex of the digest; the object cannot be updated afterwards.
    std::string hex_digest();

  private:
    struct State;
    std::unique_ptr<State> state_;
};

std::string sha256_hex(std::string_view data);

// How a digest string parsed. The spec registers two algorithms, sha256
// and sha512; everything this registry stores is addressed by sha256, so a
// well-formed sha512 digest is valid but names nothing here (a 404, not a
// 400).
enum class DigestError {
    none,                  // sha256:<64 lowercase hex>
    other_registered,      // sha512:<128 lowercase hex>: valid, never stored
    unsupported_algorithm, // a well-formed "<alg>:" of no registered algorithm
    malformed,
};

struct ParsedDigest {
    DigestError error = DigestError::none;
    std::string_view hex; // 64 lowercase hex digits when error == none
};

// Parse "sha256:<64 lowercase hex>". A well-formed sha512 digest is
// other_registered; anything else with an "<alg>:" prefix of another
// algorithm is unsupported_algorithm; the rest (a registered algorithm with
// the wrong encoding too) is malformed.
ParsedDigest parse_digest(std::string_view digest) noexcept;

bool is_sha256_hex(std::string_view hex) noexcept;

} // namespace nixery
