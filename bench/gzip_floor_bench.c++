// The floor of layer assembly: what the machine needs for the same bytes,
// without reading a store or writing tar headers. Given layer tars (already
// in memory), it compresses every block with the helper's codec
// (deflate_block) on all cores, hashes the tar and the gzip (SHA-256) and
// writes and fsyncs the gzip file, and prints the seconds this took and
// the gzip bytes. bench/cold_build.pl compares the helper's assembly time
// with it (goal: within 1.5x).
//
//     gzip_floor_bench OUT_DIR TAR...
#include "digest.h"
#include "image/gzip.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <iterator>
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
    std::uint64_t total = 0;
    for (std::size_t n = 0; n < tars.size(); ++n) {
        const Bytes& tar = tars[n];
        std::size_t blocks = std::max<std::size_t>(
            1, (tar.size() + gzip_block - 1) / gzip_block);
        std::vector<Bytes> out(blocks);
        // Work items: every block, and the tar's hash; taken in turn by
        // every core.
        std::atomic<std::size_t> next{0};
        std::string tar_hex;
        auto work = [&] {
            for (std::size_t i; (i = next++) <= blocks;) {
                if (i == blocks) {
                    Sha256 h;
                    h.update(tar.data(), tar.size());
                    tar_hex = h.hex_digest();
                    continue;
                }
                std::size_t from = i * gzip_block;
                std::size_t to = std::min(tar.size(), from + gzip_block);
                Bytes in(tar.begin() + static_cast<long>(from),
                         tar.begin() + static_cast<long>(to));
                out[i] = deflate_block(in, i + 1 == blocks);
            }
        };
        std::vector<std::thread> pool;
        for (unsigned i = 1; i < threads; ++i) {
            pool.emplace_back(work);
        }
        work();
        for (std::thread& t : pool) {
            t.join();
        }
        std::string path = std::string(argv[1]) + "/floor." + std::to_string(n);
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        Sha256 gz;
        for (const Bytes& b : out) {
            gz.update(b.data(), b.size());
            if (::write(fd, b.data(), b.size()) !=
                static_cast<ssize_t>(b.size())) {
                std::perror("write");
                return 1;
            }
            total += b.size();
        }
        ::fsync(fd);
        ::close(fd);
        gz.hex_digest();
    }
    double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    std::printf("%.3f %llu\n", s, static_cast<unsigned long long>(total));
    return 0;
}
