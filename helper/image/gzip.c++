#include "image/gzip.h"

#include <libdeflate.h>
#include <zlib.h>

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

// One per thread: a compressor holds ~1 MB of match-finder tables, too
// much to allocate per block, and is not safe to share.
libdeflate_compressor* thread_compressor()
{
    thread_local std::unique_ptr<libdeflate_compressor, CompressorFree> c(
        libdeflate_alloc_compressor(gzip_level));
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

} // namespace

Bytes deflate_block(const Bytes& input, bool last)
{
    libdeflate_compressor* c = thread_compressor();
    Bytes out(libdeflate_deflate_compress_bound(c, input.size()) + 5);
    std::size_t n = libdeflate_deflate_compress(c, input.data(), input.size(),
                                                out.data(), out.size());
    if (n == 0) {
        throw std::runtime_error("gzip: libdeflate output did not fit");
    }
    out.resize(n);
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
        if (f.valid()) {
            f.wait();
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
        Bytes out = in_flight_.front().get();
        in_flight_.pop_front();
        emit(out);
    }
}

void GzipEncoder::submit_block(bool last)
{
    crc_ = libdeflate_crc32(crc_, block_.data(), block_.size());
    isize_ += block_.size();
    if (pool_ == nullptr || pool_->saturated()) {
        drain(0); // keep the output in order
        emit(deflate_block(block_, last));
    } else {
        auto input = std::make_shared<Bytes>(std::move(block_));
        in_flight_.push_back(pool_->submit(
            [input, last] { return deflate_block(*input, last); }));
        drain(pool_->window());
    }
    block_ = Bytes();
    block_.reserve(gzip_block);
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
