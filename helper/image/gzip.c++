#include "image/gzip.h"

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>

#include <stdexcept>

namespace nixery {

namespace {

constexpr std::size_t history = 32 * 1024;

// ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown), as Go writes.
constexpr std::uint8_t gzip_header[10] = {0x1f, 0x8b, 8, 0, 0,
                                          0,    0,    0, 0, 0xff};

void put_le32(Bytes& out, std::uint32_t v)
{
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
}

} // namespace

Bytes deflate_block(const Bytes& input, const Bytes& dict, bool last)
{
    thread_local Bytes level_buf(ISAL_DEF_LVL1_DEFAULT);
    isal_zstream s;
    isal_deflate_init(&s);
    s.level = 1;
    s.level_buf = level_buf.data();
    s.level_buf_size = static_cast<std::uint32_t>(level_buf.size());
    s.gzip_flag = IGZIP_DEFLATE;
    if (!dict.empty() &&
        isal_deflate_set_dict(&s, const_cast<std::uint8_t*>(dict.data()),
                              static_cast<std::uint32_t>(dict.size())) !=
            COMP_OK) {
        throw std::runtime_error("gzip: cannot set the dictionary");
    }
    s.end_of_stream = last ? 1 : 0;
    s.flush = last ? NO_FLUSH : SYNC_FLUSH;
    s.next_in = const_cast<std::uint8_t*>(input.data());
    s.avail_in = static_cast<std::uint32_t>(input.size());
    Bytes out(input.size() + input.size() / 8 + 4096);
    std::size_t produced = 0;
    for (int idle = 0;;) {
        s.next_out = out.data() + produced;
        s.avail_out = static_cast<std::uint32_t>(out.size() - produced);
        if (isal_deflate(&s) != COMP_OK) {
            throw std::runtime_error("gzip: isal_deflate failed");
        }
        std::size_t now = out.size() - s.avail_out;
        idle = now == produced ? idle + 1 : 0;
        produced = now;
        bool done = last ? s.internal_state.state == ZSTATE_END
                         : s.avail_in == 0 && s.avail_out > 0;
        if (done) {
            break;
        }
        if (s.avail_out == 0) {
            out.resize(out.size() * 2);
        } else if (idle > 8) {
            throw std::runtime_error("gzip: isal_deflate made no progress");
        }
    }
    out.resize(produced);
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
    crc_ = crc32_gzip_refl(crc_, block_.data(), block_.size());
    isize_ += block_.size();
    Bytes next_dict(block_.end() -
                        static_cast<long>(std::min(history, block_.size())),
                    block_.end());
    if (pool_ == nullptr || pool_->saturated()) {
        drain(0); // keep the output in order
        emit(deflate_block(block_, dict_, last));
    } else {
        auto input = std::make_shared<Bytes>(std::move(block_));
        auto dict = std::make_shared<Bytes>(std::move(dict_));
        in_flight_.push_back(pool_->submit([input, dict, last] {
            return deflate_block(*input, *dict, last);
        }));
        drain(pool_->window());
    }
    dict_ = std::move(next_dict);
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
