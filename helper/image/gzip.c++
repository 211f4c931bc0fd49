#include "image/gzip.h"

#include <libdeflate.h>
#include <zlib.h>

#include <cmath>
#include <memory>
#include <new>
#include <stdexcept>

namespace nixery {

namespace {

// ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown), as Go writes.
constexpr std::uint8_t gzip_header[10] = {0x1f, 0x8b, 8, 0, 0,
                                          0,    0,    0, 0, 0xff};

void put_le32(Bytes& out, std::uint32_t v)
{
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
}

struct CompressorFree {
    void operator()(libdeflate_compressor* c) const noexcept
    {
        libdeflate_free_compressor(c);
    }
};

// One per thread and level: a compressor holds up to ~1 MB of match-finder
// tables, too much to allocate per block, and is not safe to share.
template <int Level> libdeflate_compressor* thread_compressor()
{
    thread_local std::unique_ptr<libdeflate_compressor, CompressorFree> c(
        libdeflate_alloc_compressor(Level));
    if (!c) {
        throw std::bad_alloc();
    }
    return c.get();
}

// Where a complete raw deflate stream's last block begins (in bits from the
// start) and how many padding bits follow its end in the last byte.
// libdeflate does not say, so zlib's inflate walks the blocks: with
// Z_BLOCK it stops at every block boundary and reports the bit position
// there (the same technique as zlib's gzjoin example).
struct StreamEnd {
    std::uint64_t last_header_bit = 0;
    unsigned spare_bits = 0;
};

StreamEnd find_stream_end(const Bytes& deflated)
{
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) {
        throw std::bad_alloc();
    }
    struct Ender {
        z_stream* z;
        ~Ender() { inflateEnd(z); }
    } ender{&z};
    thread_local Bytes scratch(256 * 1024);
    z.next_in = const_cast<std::uint8_t*>(deflated.data());
    z.avail_in = static_cast<uInt>(deflated.size());
    StreamEnd end;
    for (;;) {
        z.next_out = scratch.data();
        z.avail_out = static_cast<uInt>(scratch.size());
        int rc = inflate(&z, Z_BLOCK);
        if (rc == Z_STREAM_END) {
            break;
        }
        if (rc != Z_OK) {
            throw std::runtime_error("gzip: cannot walk the deflate blocks");
        }
        // 128: at a block boundary; 64: the final block was decoded.
        auto unused = static_cast<unsigned>(z.data_type & 7);
        if ((z.data_type & 128) != 0 && (z.data_type & 64) == 0) {
            end.last_header_bit = z.total_in * 8 - unused;
        } else if ((z.data_type & 128) != 0) {
            end.spare_bits = unused;
        }
    }
    if (z.avail_in != 0) {
        throw std::runtime_error("gzip: bytes after the deflate stream");
    }
    return end;
}

// Order-0 entropy, in bits per byte, of the bytes in [p, p + n) taken in
// `windows` evenly spaced windows of `width` bytes (all of them when the
// windows would cover the range).
double entropy(const std::uint8_t* p, std::size_t n, std::size_t windows,
               std::size_t width)
{
    // Four tables, so that runs of one byte value do not make every
    // increment wait for the one before.
    std::uint32_t count[4][256] = {};
    auto add = [&](const std::uint8_t* q, std::size_t len) {
        std::size_t i = 0;
        for (; i + 4 <= len; i += 4) {
            ++count[0][q[i]];
            ++count[1][q[i + 1]];
            ++count[2][q[i + 2]];
            ++count[3][q[i + 3]];
        }
        for (; i < len; ++i) {
            ++count[0][q[i]];
        }
    };
    std::size_t total = 0;
    if (windows * width >= n) {
        add(p, n);
        total = n;
    } else {
        std::size_t stride = n / windows;
        for (std::size_t w = 0; w < windows; ++w) {
            add(p + w * stride, width);
        }
        total = windows * width;
    }
    double bits = 0;
    for (int v = 0; v < 256; ++v) {
        std::uint32_t c = count[0][v] + count[1][v] + count[2][v] + count[3][v];
        if (c != 0) {
            double f = static_cast<double>(c) / static_cast<double>(total);
            bits -= f * std::log2(f);
        }
    }
    return bits;
}

// What `size` bytes at p come to at libdeflate's fastest level (`size` if
// they do not shrink).
std::size_t level1_size(const std::uint8_t* p, std::size_t size)
{
    thread_local Bytes out;
    out.resize(size);
    std::size_t n = libdeflate_deflate_compress(thread_compressor<1>(), p, size,
                                                out.data(), out.size());
    return n == 0 ? size : n;
}

// The input as stored deflate blocks (RFC 1951 3.2.4), starting on a byte
// boundary and ending on one; final if `last`.
Bytes stored_blocks(const Bytes& input, bool last)
{
    constexpr std::size_t most = 65535;
    Bytes out;
    out.reserve(input.size() + (input.size() / most + 1) * 5);
    std::size_t at = 0;
    do {
        std::size_t len = std::min(most, input.size() - at);
        bool final = last && at + len == input.size();
        out.push_back(final ? 1 : 0); // BFINAL, BTYPE 00, padding
        out.push_back(static_cast<std::uint8_t>(len));
        out.push_back(static_cast<std::uint8_t>(len >> 8));
        out.push_back(static_cast<std::uint8_t>(~len));
        out.push_back(static_cast<std::uint8_t>(~len >> 8));
        out.insert(out.end(), input.begin() + static_cast<std::ptrdiff_t>(at),
                   input.begin() + static_cast<std::ptrdiff_t>(at + len));
        at += len;
    } while (at < input.size());
    return out;
}

} // namespace

bool incompressible(const Bytes& input)
{
    // Tried in order of cost, each on what the one before let through: the
    // entropy of 64 KiB sampled across the block (text, code and
    // executables are far below 7.99 bits per byte), of the whole block,
    // then what four 16 KiB windows come to at level 1 (repeats that a byte
    // histogram cannot see). Random bytes and data compressed by a
    // stronger codec (.xz, .zst) pass all three; libdeflate would spend as
    // long finding that it cannot shrink them as compressing text of the
    // same size. A block whose windows shrink at all is compressed:
    // deflate's own output (.gz, .png, .jar) looks random to a histogram,
    // but level 5 still saves 0.3-1 % on its 1 MiB blocks where level 1 on
    // small windows saves a tenth of that, and layers are downloaded far
    // more often than they are built.
    constexpr double threshold = 7.99;
    constexpr std::size_t window = 16 * 1024;
    if (input.size() < 4 * window) {
        return false;
    }
    const std::uint8_t* p = input.data();
    std::size_t n = input.size();
    if (entropy(p, n, 16, 4096) < threshold ||
        entropy(p, n, 1, n) < threshold) {
        return false;
    }
    std::size_t packed = 0;
    for (std::size_t w = 0; w < 4; ++w) {
        packed += level1_size(p + w * ((n - window) / 3), window);
    }
    return packed >= 4 * window;
}

Bytes deflate_block(const Bytes& input, bool last)
{
    if (incompressible(input)) {
        return stored_blocks(input, last);
    }
    libdeflate_compressor* c = thread_compressor<gzip_level>();
    // Compressed into a buffer kept by the thread, then copied out at its
    // size: a fresh buffer of the bound per block would be zeroed and
    // faulted in page by page, for output about a third of its size.
    thread_local Bytes scratch;
    scratch.resize(std::max(
        scratch.size(), libdeflate_deflate_compress_bound(c, input.size())));
    std::size_t n = libdeflate_deflate_compress(c, input.data(), input.size(),
                                                scratch.data(), scratch.size());
    if (n == 0) {
        throw std::runtime_error("gzip: libdeflate output did not fit");
    }
    Bytes out;
    out.reserve(n + 6); // room for the sync flush
    out.assign(scratch.begin(),
               scratch.begin() + static_cast<std::ptrdiff_t>(n));
    if (last) {
        return out;
    }
    // Not the end of the layer: clear the final-block bit and append an
    // empty stored block (a sync flush), whose 3 header bits go into the
    // padding of the last byte if they fit, so the next block starts on a
    // byte boundary as a continuation of the same deflate stream.
    StreamEnd end = find_stream_end(out);
    out[end.last_header_bit / 8] &=
        static_cast<std::uint8_t>(~(1u << (end.last_header_bit % 8)));
    out.back() &= static_cast<std::uint8_t>(0xff >> end.spare_bits);
    if (end.spare_bits < 3) {
        out.push_back(0);
    }
    for (std::uint8_t b : {0x00, 0x00, 0xff, 0xff}) {
        out.push_back(b);
    }
    return out;
}

CompressionPool::CompressionPool(unsigned threads)
{
    for (unsigned i = 0; i < std::max(threads, 1u); ++i) {
        threads_.emplace_back([this] { run(); });
    }
}

CompressionPool::~CompressionPool()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& t : threads_) {
        t.join();
    }
}

std::size_t CompressionPool::window() const noexcept
{
    std::size_t users = std::max(1u, encoders_.load());
    return std::max<std::size_t>(2, 2 * threads_.size() / users);
}

std::future<Bytes> CompressionPool::submit(std::function<Bytes()> job)
{
    std::packaged_task<Bytes()> task(std::move(job));
    std::future<Bytes> result = task.get_future();
    {
        std::lock_guard lock(mutex_);
        jobs_.push_back(std::move(task));
    }
    ready_.notify_one();
    return result;
}

void CompressionPool::run()
{
    for (;;) {
        std::packaged_task<Bytes()> task;
        {
            std::unique_lock lock(mutex_);
            ready_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
            if (jobs_.empty()) {
                return;
            }
            task = std::move(jobs_.front());
            jobs_.pop_front();
        }
        task(); // exceptions land in the future
    }
}

GzipEncoder::GzipEncoder(Sink sink, CompressionPool* pool)
    : sink_(std::move(sink)), pool_(pool)
{
    block_.reserve(gzip_block);
    sink_(gzip_header, sizeof gzip_header);
    if (pool_ != nullptr) {
        pool_->attach(); // last: a throwing constructor never detaches
    }
}

GzipEncoder::~GzipEncoder()
{
    // Results nobody will read: wait for them so no job outlives its data.
    for (auto& f : in_flight_) {
        if (f.out.valid()) {
            f.out.wait();
        }
    }
    if (pool_ != nullptr) {
        pool_->detach();
    }
}

void GzipEncoder::emit(const Bytes& out)
{
    if (!out.empty()) {
        sink_(out.data(), out.size());
    }
}

void GzipEncoder::drain(std::size_t keep)
{
    while (in_flight_.size() > keep) {
        InFlight done = std::move(in_flight_.front());
        in_flight_.pop_front();
        emit(done.out.get());
        if (done.in.use_count() == 1) { // the job has let go of it
            done.in->clear();
            spare_.push_back(std::move(*done.in));
        }
    }
}

void GzipEncoder::submit_block(bool last)
{
    crc_ = libdeflate_crc32(crc_, block_.data(), block_.size());
    isize_ += block_.size();
    if (pool_ == nullptr || pool_->saturated()) {
        drain(0); // keep the output in order
        emit(deflate_block(block_, last));
        block_.clear();
        return;
    }
    auto input = std::make_shared<Bytes>(std::move(block_));
    // The job lets go of the input before its result is ready, so that the
    // buffer is this encoder's alone again once the result is read.
    in_flight_.push_back({pool_->submit([input, last]() mutable {
                              auto held = std::move(input);
                              return deflate_block(*held, last);
                          }),
                          input});
    // The next block's buffer: one a finished job gave back, so that its
    // pages are not faulted in again, or a new one.
    drain(pool_->window());
    if (spare_.empty()) {
        block_ = Bytes();
        block_.reserve(gzip_block);
    } else {
        block_ = std::move(spare_.back());
        spare_.pop_back();
    }
}

void GzipEncoder::write(const void* data, std::size_t size)
{
    if (finished_) {
        throw std::logic_error("gzip: write after finish");
    }
    auto* p = static_cast<const std::uint8_t*>(data);
    while (size > 0) {
        std::size_t take = std::min(size, gzip_block - block_.size());
        block_.insert(block_.end(), p, p + take);
        p += take;
        size -= take;
        if (block_.size() == gzip_block) {
            submit_block(false);
        }
    }
}

void GzipEncoder::finish()
{
    if (finished_) {
        return;
    }
    finished_ = true;
    submit_block(true);
    drain(0);
    Bytes trailer;
    put_le32(trailer, crc_);
    put_le32(trailer, static_cast<std::uint32_t>(isize_));
    emit(trailer);
}

} // namespace nixery
