// Streaming gzip compression with ISA-L's igzip (level 1).
//
// Layers are compressed once and served many times, but assembly time is
// what a first `docker pull` waits for: igzip level 1 compresses ~20 times
// faster than zlib level 6 for a few percent more bytes. The output is a
// standard single-member gzip stream (RFC 1952) with ISA-L's fixed header
// (mtime 0, no name), readable by zlib's gunzip and Go's compress/gzip; for
// a given input, fed in the same chunks, it is byte-for-byte deterministic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace nixery {

class GzipEncoder {
  public:
    // Receives every compressed chunk, in order.
    using Sink = std::function<void(const std::uint8_t*, std::size_t)>;

    explicit GzipEncoder(Sink sink);
    ~GzipEncoder();
    GzipEncoder(const GzipEncoder&) = delete;
    GzipEncoder& operator=(const GzipEncoder&) = delete;

    void write(const void* data, std::size_t size);
    // Flush the remaining data and the gzip trailer; no writes afterwards.
    void finish();

  private:
    struct State;
    std::unique_ptr<State> state_;
    Sink sink_;
};

} // namespace nixery
