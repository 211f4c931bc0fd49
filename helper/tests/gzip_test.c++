#include "image/gzip.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <random>
#include <string>

namespace nixery {
namespace {

std::string gunzip(const std::string& gz)
{
    z_stream z{};
    EXPECT_EQ(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    std::string out;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
    z.avail_in = static_cast<uInt>(gz.size());
    int rc = Z_OK;
    char buf[65536];
    while (rc == Z_OK) {
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        rc = inflate(&z, Z_NO_FLUSH);
        out.append(buf, sizeof buf - z.avail_out);
    }
    EXPECT_EQ(rc, Z_STREAM_END);
    EXPECT_EQ(z.avail_in, 0u) << "trailing bytes after the gzip member";
    inflateEnd(&z);
    return out;
}

std::string compress(const std::string& data, std::size_t chunk,
                     CompressionPool* pool = nullptr)
{
    std::string gz;
    GzipEncoder enc(
        [&](const std::uint8_t* p, std::size_t n) {
            gz.append(reinterpret_cast<const char*>(p), n);
        },
        pool);
    for (std::size_t i = 0; i < data.size(); i += chunk) {
        enc.write(data.data() + i, std::min(chunk, data.size() - i));
    }
    enc.finish();
    return gz;
}

std::string sample(std::size_t size)
{
    // Half compressible text, half random bytes.
    std::mt19937 rng(7);
    std::string s;
    while (s.size() < size / 2) {
        s += "the quick brown fox " + std::to_string(s.size() % 977) + "\n";
    }
    while (s.size() < size) {
        s.push_back(static_cast<char>(rng()));
    }
    return s;
}

TEST(Gzip, RoundTripsThroughZlib)
{
    std::string data = sample(5 << 20);
    std::string gz = compress(data, 1 << 20);
    EXPECT_LT(gz.size(), data.size());
    ASSERT_GE(gz.size(), 10u);
    EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
    EXPECT_EQ(gunzip(gz), data);
}

TEST(Gzip, EmptyInputIsAValidStream)
{
    std::string gz = compress("", 1);
    EXPECT_EQ(gunzip(gz), "");
}

TEST(Gzip, DeterministicAndHeaderHasNoTime)
{
    std::string data = sample(3 << 20);
    std::string a = compress(data, 10240);
    std::string b = compress(data, 10240);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.substr(4, 4), std::string(4, '\0')); // MTIME
    // Small odd-sized writes still decode to the same bytes.
    EXPECT_EQ(gunzip(compress(data, 4093)), data);
}

TEST(Gzip, PoolGivesTheSameBytes)
{
    std::string data = sample(7 * gzip_block + 12345);
    std::string inline_gz = compress(data, 65536);
    for (unsigned threads : {1u, 2u, 3u, 8u}) {
        CompressionPool pool(threads);
        EXPECT_EQ(compress(data, 65536, &pool), inline_gz) << threads;
    }
    EXPECT_EQ(gunzip(inline_gz), data);
}

TEST(Gzip, BlockBoundaries)
{
    CompressionPool pool(2);
    for (std::size_t size :
         {gzip_block - 1, gzip_block, gzip_block + 1, 2 * gzip_block}) {
        std::string data = sample(size);
        EXPECT_EQ(gunzip(compress(data, gzip_block, &pool)), data) << size;
    }
}

// What a layer holds: machine code and text, here this test's own binary.
std::string own_binary()
{
    std::FILE* f = std::fopen("/proc/self/exe", "rb");
    EXPECT_NE(f, nullptr);
    std::string s;
    char buf[65536];
    for (std::size_t n;
         f != nullptr && (n = std::fread(buf, 1, sizeof buf, f)) > 0;) {
        s.append(buf, n);
    }
    if (f != nullptr) {
        std::fclose(f);
    }
    return s;
}

TEST(Gzip, NoBiggerThanZlibLevel6)
{
    // The goal (docs/images.md): layers no bigger than gzip -6's, within
    // 1%, although blocks are compressed independently.
    std::string data = own_binary().substr(0, 4 * gzip_block);
    ASSERT_EQ(data.size(), 4 * gzip_block);
    uLongf zsize = compressBound(static_cast<uLong>(data.size()));
    std::string z(zsize, '\0');
    ASSERT_EQ(compress2(reinterpret_cast<Bytef*>(z.data()), &zsize,
                        reinterpret_cast<const Bytef*>(data.data()),
                        static_cast<uLong>(data.size()), 6),
              Z_OK);
    CompressionPool pool(2);
    std::string gz = compress(data, 65536, &pool);
    EXPECT_EQ(gunzip(gz), data);
    // zlib's stream has 6 bytes of framing, gzip's 18.
    EXPECT_LE(static_cast<double>(gz.size() - 18),
              1.01 * static_cast<double>(zsize - 6))
        << gz.size() << " bytes against zlib's " << zsize;
}

TEST(Gzip, InnerBlockIsNotFinalAndEndsOnAByte)
{
    // A block other than the last must leave the deflate stream open and
    // end byte-aligned with a sync flush, whatever libdeflate chose.
    for (std::size_t size : {std::size_t{1}, std::size_t{1000}, gzip_block}) {
        std::string text = sample(size);
        Bytes block(text.begin(), text.end());
        Bytes out = deflate_block(block, false);
        ASSERT_GE(out.size(), 4u);
        EXPECT_EQ(Bytes(out.end() - 4, out.end()),
                  (Bytes{0x00, 0x00, 0xff, 0xff}));
        z_stream z{};
        ASSERT_EQ(inflateInit2(&z, -MAX_WBITS), Z_OK);
        std::string got(size + 1, '\0');
        z.next_in = out.data();
        z.avail_in = static_cast<uInt>(out.size());
        z.next_out = reinterpret_cast<Bytef*>(got.data());
        z.avail_out = static_cast<uInt>(got.size());
        EXPECT_EQ(inflate(&z, Z_SYNC_FLUSH), Z_OK) << size; // not STREAM_END
        EXPECT_EQ(z.avail_in, 0u);
        got.resize(got.size() - z.avail_out);
        EXPECT_EQ(got, text) << size;
        inflateEnd(&z);
    }
}

} // namespace
} // namespace nixery
