// Streaming gzip compression with libdeflate (level 5), in parallel.
//
// Layers are compressed once and served many times, and both their size
// (what every pull downloads) and the time to compress them (what a first
// pull waits for) matter: libdeflate level 5 gives layers slightly smaller
// than zlib level 6 (gzip -6, Go's default) at about three times its speed
// per core (docs/images.md, "Compression", has the measurements). The
// input is cut into blocks of a fixed size (gzip_block); each block is
// deflated on its own (libdeflate compresses whole buffers and takes no
// dictionary), its final-block bit cleared and a sync flush (an empty
// stored block) appended so that it ends on a byte boundary, and the
// blocks are concatenated into one standard gzip member (RFC 1952; header
// mtime 0, no name, OS 255) that zlib's gunzip, Go's compress/gzip and
// Python read. Blocks can therefore be compressed on several cores, and
// the bytes depend only on the input: the same with a pool of any size or
// none.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace nixery {

// Uncompressed bytes per independently compressed block.
inline constexpr std::size_t gzip_block = 1 << 20;

using Bytes = std::vector<std::uint8_t>;

// Threads that compress blocks for any number of encoders.
class CompressionPool {
  public:
    explicit CompressionPool(unsigned threads);
    ~CompressionPool();
    CompressionPool(const CompressionPool&) = delete;
    CompressionPool& operator=(const CompressionPool&) = delete;

    std::future<Bytes> submit(std::function<Bytes()> job);
    unsigned size() const noexcept
    {
        return static_cast<unsigned>(threads_.size());
    }

    // Blocks each encoder may have in flight: 2 x threads shared by the
    // encoders at work (at least 2 each), so memory stays bounded however
    // many layers are built at once, and one big layer alone can use
    // every thread.
    std::size_t window() const noexcept;
    // As many encoders at work as threads: each can compress its own
    // blocks, and handing blocks over would only add thread switches.
    bool saturated() const noexcept
    {
        return encoders_.load() >= threads_.size();
    }
    void attach() noexcept { ++encoders_; }
    void detach() noexcept { --encoders_; }

  private:
    void run();

    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::packaged_task<Bytes()>> jobs_;
    bool stopping_ = false;
    std::atomic<unsigned> encoders_{0};
    std::vector<std::thread> threads_;
};

class GzipEncoder {
  public:
    // Receives every compressed chunk, in order, on the writing thread.
    using Sink = std::function<void(const std::uint8_t*, std::size_t)>;

    // Without a pool, or while the pool has as many encoders at work as
    // threads, blocks are compressed on the calling thread.
    explicit GzipEncoder(Sink sink, CompressionPool* pool = nullptr);
    ~GzipEncoder();
    GzipEncoder(const GzipEncoder&) = delete;
    GzipEncoder& operator=(const GzipEncoder&) = delete;

    void write(const void* data, std::size_t size);
    // Flush the remaining data and the gzip trailer; no writes afterwards.
    void finish();

  private:
    void submit_block(bool last);
    void emit(const Bytes& out);
    void drain(std::size_t keep);

    Sink sink_;
    CompressionPool* pool_;
    Bytes block_;
    std::uint32_t crc_ = 0;
    std::uint64_t isize_ = 0;
    struct InFlight {
        std::future<Bytes> out;
        std::shared_ptr<Bytes> in; // its buffer is reused once done
    };
    std::deque<InFlight> in_flight_;
    std::vector<Bytes> spare_; // emptied block buffers, capacity kept
    bool finished_ = false;
};

// The libdeflate compression level: the fastest whose layers are no bigger
// than gzip -6's (level 4 gives ~1% more bytes).
inline constexpr int gzip_level = 5;

// Deflate one block (raw deflate, no header) as described above: the last
// block ends the deflate stream; any other ends with a sync flush, not
// final, so that the next block's bytes can follow it. A block that
// deflate cannot shrink (incompressible()) is written as stored blocks at
// once, which ends on a byte boundary by itself.
Bytes deflate_block(const Bytes& input, bool last);

// Whether a block looks like already compressed or random bytes: a byte
// entropy of at least 7.99 bits and nothing saved by libdeflate level 1
// on samples. Decided by the bytes alone, so the output stays
// deterministic.
bool incompressible(const Bytes& input);

} // namespace nixery
