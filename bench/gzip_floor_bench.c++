// The floor of layer assembly: what the machine needs for the same bytes,
// without reading a store or writing tar headers. Given layer tars (already
// in memory), it compresses every block of every layer with the helper's
// codec (deflate_block) on all cores, biggest layer first, and hashes each
// tar (SHA-256); meanwhile a writer per layer hashes and writes its gzip in
// order, starting writeback every 8 MB, then fsyncs it. It prints the
// seconds this took and the gzip bytes. bench/cold_build.pl compares the
// helper's assembly time with it (goal: within 1.5x).
//
//     gzip_floor_bench OUT_DIR TAR...
#include "digest.h"
#include "image/gzip.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace nixery;

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: gzip_floor_bench OUT_DIR TAR...\n");
        return 2;
    }
    std::vector<Bytes> tars;
    for (int i = 2; i < argc; ++i) {
        std::ifstream in(argv[i], std::ios::binary);
        tars.emplace_back(std::istreambuf_iterator<char>(in),
                          std::istreambuf_iterator<char>());
    }
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    auto t0 = std::chrono::steady_clock::now();
    // Every block of every layer, biggest layer first (as the helper
    // builds them), and each tar's hash: work items taken in turn by every
    // core.
    struct Layer {
        std::vector<Bytes> out;
        std::unique_ptr<std::atomic<bool>[]> done;
        std::size_t blocks = 0;
        std::uint64_t written = 0;
    };
    std::vector<Layer> layers(tars.size());
    struct Item {
        std::size_t layer;
        std::size_t block; // == blocks: the tar's hash
    };
    std::vector<std::size_t> order(tars.size());
    for (std::size_t n = 0; n < tars.size(); ++n) {
        order[n] = n;
        Layer& l = layers[n];
        l.blocks = std::max<std::size_t>(1, (tars[n].size() + gzip_block - 1) /
                                                gzip_block);
        l.out.resize(l.blocks);
        l.done.reset(new std::atomic<bool>[l.blocks]);
        for (std::size_t i = 0; i < l.blocks; ++i) {
            l.done[i] = false;
        }
    }
    std::stable_sort(order.begin(), order.end(), [&](auto x, auto y) {
        return tars[x].size() > tars[y].size();
    });
    std::vector<Item> items;
    for (std::size_t n : order) {
        for (std::size_t i = 0; i <= layers[n].blocks; ++i) {
            items.push_back({n, i});
        }
    }
    std::mutex mutex;
    std::condition_variable ready;
    std::atomic<std::size_t> next{0};
    auto work = [&] {
        for (std::size_t k; (k = next++) < items.size();) {
            auto [n, i] = items[k];
            const Bytes& tar = tars[n];
            Layer& l = layers[n];
            if (i == l.blocks) {
                Sha256 h;
                h.update(tar.data(), tar.size());
                h.hex_digest();
                continue;
            }
            std::size_t from = i * gzip_block;
            std::size_t to = std::min(tar.size(), from + gzip_block);
            Bytes in(tar.begin() + static_cast<long>(from),
                     tar.begin() + static_cast<long>(to));
            l.out[i] = deflate_block(in, i + 1 == l.blocks);
            {
                std::lock_guard lock(mutex);
                l.done[i] = true;
            }
            ready.notify_all();
        }
    };
    // Meanwhile, as the helper does, one writer per layer: each block
    // hashed and written as soon as it and those before it are ready, the
    // written part handed to the kernel for writeback every 8 MB, one
    // fsync at the end.
    std::atomic<bool> failed{false};
    auto write = [&](std::size_t n) {
        Layer& l = layers[n];
        std::string path = std::string(argv[1]) + "/floor." + std::to_string(n);
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        Sha256 gz;
        off_t synced = 0;
        for (std::size_t i = 0; i < l.blocks; ++i) {
            {
                std::unique_lock lock(mutex);
                ready.wait(lock, [&] { return l.done[i].load(); });
            }
            const Bytes& b = l.out[i];
            gz.update(b.data(), b.size());
            if (::write(fd, b.data(), b.size()) !=
                static_cast<ssize_t>(b.size())) {
                failed = true;
            }
            l.written += b.size();
            auto at = static_cast<off_t>(l.written);
            if (at - synced >= (8 << 20)) {
                ::sync_file_range(fd, synced, at - synced,
                                  SYNC_FILE_RANGE_WRITE);
                synced = at;
            }
            Bytes().swap(l.out[i]);
        }
        ::fsync(fd);
        ::close(fd);
        gz.hex_digest();
    };
    std::vector<std::thread> running;
    for (unsigned i = 0; i < threads; ++i) {
        running.emplace_back(work);
    }
    for (std::size_t n = 0; n < layers.size(); ++n) {
        running.emplace_back(write, n);
    }
    for (std::thread& t : running) {
        t.join();
    }
    if (failed) {
        std::perror("write");
        return 1;
    }
    std::uint64_t total = 0;
    for (const Layer& l : layers) {
        total += l.written;
    }
    double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    std::printf("%.3f %llu\n", s, static_cast<unsigned long long>(total));
    return 0;
}
