// The tags a helper on a git source serves, published to Redis for the
// module's tags/list (src/tag_list.h, docs/redis.md).
//
// A thread of its own lists the repository's branches and git tags (a
// `git ls-remote`, which may take a while on a slow remote: never in the
// heartbeat's way) at start and every `period`, and stores the record
// under `nixery:tags` with a TTL of three periods, so that the list of a
// helper that died, or that cannot reach its repository any more, expires
// and tags/list falls back to `latest`. A listing or a Redis write that
// fails is logged and tried again after a few seconds; the record last
// stored stays until its TTL. Helpers sharing a Redis share the key: each
// one's record is the same list, and the last write wins.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace nixery::queue {

struct TagsPublisherOptions {
    std::string redis;     // "host:port" or "unix:/path"
    std::string helper_id; // written into the record, for operators
    std::chrono::seconds period{30};
    // The ref names (branches and git tags) to publish; throws when the
    // repository cannot be listed.
    std::function<std::vector<std::string>()> list;
};

class TagsPublisher {
  public:
    explicit TagsPublisher(TagsPublisherOptions options);
    ~TagsPublisher(); // stops and joins
    TagsPublisher(const TagsPublisher&) = delete;
    TagsPublisher& operator=(const TagsPublisher&) = delete;

    // Publish now, then every period, on a thread of its own.
    void start();
    void stop() noexcept;

    // One listing and one write, on the caller's thread; false (logged)
    // when either failed.
    bool publish_once();

    // Records written so far.
    std::uint64_t published() const;

  private:
    void run() noexcept;

    TagsPublisherOptions options_;
    std::thread thread_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::uint64_t published_ = 0;
};

} // namespace nixery::queue
