#include "digest.h"

#include <gtest/gtest.h>

#include <string>

namespace nixery {
namespace {

const std::string hex =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

TEST(ParseDigest, Sha256)
{
    std::string d = "sha256:" + hex;
    ParsedDigest p = parse_digest(d);
    EXPECT_EQ(p.error, DigestError::none);
    EXPECT_EQ(p.hex, hex);
    // A view into the argument, not a copy.
    EXPECT_EQ(p.hex.data(), d.data() + 7);
    EXPECT_EQ(sha256_hex(""), hex);
}

TEST(ParseDigest, MalformedHex)
{
    std::string upper = hex;
    upper[0] = 'E';
    for (std::string h :
         {std::string(), hex.substr(1), hex + "0", upper,
          hex.substr(0, 63) + "g", hex.substr(0, 63) + ":", hex + ":" + hex,
          std::string(hex) + '\0', " " + hex.substr(1)}) {
        ParsedDigest p = parse_digest("sha256:" + h);
        EXPECT_EQ(p.error, DigestError::malformed) << h;
        EXPECT_TRUE(p.hex.empty());
    }
}

TEST(ParseDigest, MalformedAlgorithm)
{
    for (std::string d : {std::string(), hex, ":" + hex, "SHA256:" + hex,
                          "sha 256:" + hex, "sha256" + hex, "sha/256:" + hex,
                          std::string("sha256\0:", 8) + hex}) {
        EXPECT_EQ(parse_digest(d).error, DigestError::malformed) << d;
    }
}

TEST(ParseDigest, Sha512IsValidButNotStored)
{
    std::string d = "sha512:" + hex + hex;
    EXPECT_EQ(parse_digest(d).error, DigestError::other_registered);
    EXPECT_TRUE(parse_digest(d).hex.empty());
    std::string upper = hex + hex;
    upper[5] = 'A';
    for (std::string bad : {"sha512:" + hex, "sha512:" + hex + hex + "0",
                            "sha512:" + upper, std::string("sha512:")}) {
        EXPECT_EQ(parse_digest(bad).error, DigestError::malformed) << bad;
    }
}

TEST(ParseDigest, OtherAlgorithmsAreUnsupported)
{
    for (std::string d :
         {std::string("sha384:abc"), std::string("md5:x"),
          std::string(
              "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564"),
          "blake3:" + hex, std::string("multihash+base58:QmRZxt2b1")}) {
        EXPECT_EQ(parse_digest(d).error, DigestError::unsupported_algorithm)
            << d;
    }
}

TEST(IsSha256Hex, OnlyLowercaseHexOf64)
{
    EXPECT_TRUE(is_sha256_hex(hex));
    EXPECT_TRUE(is_sha256_hex(std::string(64, '0')));
    EXPECT_FALSE(is_sha256_hex(hex.substr(1)));
    EXPECT_FALSE(is_sha256_hex(hex + "a"));
    EXPECT_FALSE(is_sha256_hex(std::string(64, 'F')));
    EXPECT_FALSE(is_sha256_hex(std::string(64, 'g')));
}

} // namespace
} // namespace nixery
