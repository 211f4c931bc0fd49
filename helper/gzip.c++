#include "gzip.h"

#include <isa-l/igzip_lib.h>

#include <stdexcept>
#include <vector>

namespace nixery {

namespace {

constexpr std::size_t out_chunk = 256 * 1024;

} // namespace

struct GzipEncoder::State {
    isal_zstream stream{};
    std::vector<std::uint8_t> level_buf;
    std::vector<std::uint8_t> out;
    bool finished = false;
};

GzipEncoder::GzipEncoder(Sink sink)
    : state_(std::make_unique<State>()), sink_(std::move(sink))
{
    State& s = *state_;
    isal_deflate_init(&s.stream);
    s.level_buf.resize(ISAL_DEF_LVL1_DEFAULT);
    s.out.resize(out_chunk);
    s.stream.level = 1;
    s.stream.level_buf = s.level_buf.data();
    s.stream.level_buf_size = static_cast<std::uint32_t>(s.level_buf.size());
    s.stream.gzip_flag = IGZIP_GZIP;
    s.stream.flush = NO_FLUSH;
    s.stream.end_of_stream = 0;
}

GzipEncoder::~GzipEncoder() = default;

void GzipEncoder::write(const void* data, std::size_t size)
{
    State& s = *state_;
    if (s.finished) {
        throw std::logic_error("gzip: write after finish");
    }
    auto* p = static_cast<const std::uint8_t*>(data);
    while (size > 0) {
        // avail_in is 32 bits wide.
        std::size_t piece = std::min<std::size_t>(size, 1u << 30);
        s.stream.next_in = const_cast<std::uint8_t*>(p);
        s.stream.avail_in = static_cast<std::uint32_t>(piece);
        do {
            s.stream.next_out = s.out.data();
            s.stream.avail_out = static_cast<std::uint32_t>(s.out.size());
            if (isal_deflate(&s.stream) != COMP_OK) {
                throw std::runtime_error("gzip: isal_deflate failed");
            }
            std::size_t n = s.out.size() - s.stream.avail_out;
            if (n > 0) {
                sink_(s.out.data(), n);
            }
        } while (s.stream.avail_in > 0 || s.stream.avail_out == 0);
        p += piece;
        size -= piece;
    }
}

void GzipEncoder::finish()
{
    State& s = *state_;
    if (s.finished) {
        return;
    }
    s.stream.next_in = nullptr;
    s.stream.avail_in = 0;
    s.stream.end_of_stream = 1;
    do {
        s.stream.next_out = s.out.data();
        s.stream.avail_out = static_cast<std::uint32_t>(s.out.size());
        if (isal_deflate(&s.stream) != COMP_OK) {
            throw std::runtime_error("gzip: isal_deflate failed");
        }
        std::size_t n = s.out.size() - s.stream.avail_out;
        if (n > 0) {
            sink_(s.out.data(), n);
        }
    } while (s.stream.internal_state.state != ZSTATE_END);
    s.finished = true;
}

} // namespace nixery
