// The layer codec (helper/image/gzip.h): any bytes, cut into blocks and
// compressed through GzipEncoder with and without a pool, come back
// unchanged through zlib's gunzip, and the output does not depend on the
// pool. Input: one byte choosing how the rest becomes the layer's bytes
// (as is; repeated into a block and a half; expanded into pseudo-random
// bytes seeded by it, with the input's bytes spliced in every 4 KiB, so
// that the incompressible-block shortcut and its near misses are reached),
// then the bytes.
#include "fuzz.h"

#include "image/gzip.h"

#include <zlib.h>

#include <string>

using namespace nixery;

namespace {

std::string gzip(const std::string& data, CompressionPool* pool)
{
    std::string gz;
    GzipEncoder enc(
        [&](const std::uint8_t* p, std::size_t n) {
            gz.append(reinterpret_cast<const char*>(p), n);
        },
        pool);
    for (std::size_t i = 0; i < data.size(); i += 100000) {
        enc.write(data.data() + i,
                  std::min<std::size_t>(100000, data.size() - i));
    }
    enc.finish();
    return gz;
}

std::string gunzip(const std::string& gz)
{
    z_stream z{};
    require(inflateInit2(&z, 16 + MAX_WBITS) == Z_OK);
    std::string out;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
    z.avail_in = static_cast<uInt>(gz.size());
    int rc = Z_OK;
    static char buf[1 << 16];
    while (rc == Z_OK) {
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        rc = inflate(&z, Z_NO_FLUSH);
        out.append(buf, sizeof buf - z.avail_out);
    }
    require(rc == Z_STREAM_END);
    require(z.avail_in == 0);
    inflateEnd(&z);
    return out;
}

} // namespace

NIXERY_FUZZ_TARGET
{
    if (size == 0) {
        return 0;
    }
    std::string in(reinterpret_cast<const char*>(data + 1), size - 1);
    std::string layer;
    switch (data[0] % 3) {
    case 0:
        layer = in;
        break;
    case 1:
        while (!in.empty() && layer.size() < gzip_block + gzip_block / 2) {
            layer += in;
        }
        break;
    default: {
        std::uint64_t x = 0x9e3779b97f4a7c15ull;
        for (unsigned char c : in) {
            x = (x ^ c) * 0x100000001b3ull;
        }
        layer.resize(gzip_block + 4096);
        for (char& c : layer) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c = static_cast<char>(x);
        }
        for (std::size_t at = 0; !in.empty() && at < layer.size(); at += 4096) {
            std::size_t n = std::min(in.size(), layer.size() - at);
            layer.replace(at, n, in, 0, n);
        }
        break;
    }
    }
    std::string alone = gzip(layer, nullptr);
    require(gunzip(alone) == layer);
    static CompressionPool pool(2);
    require(gzip(layer, &pool) == alone);
    return 0;
}
