// The helper's side of the build board (build_board.h): each build in
// flight as a record in Redis with its phase (resolving, building layer k
// of n, publishing), refreshed every heartbeat so that a dead helper's
// records expire, and each failed build with Nix's message, redacted, in a
// short list. The nginx module reads them for the build page.
//
// Phases are reported from the daemon's worker threads and from assembly's
// layer threads at once, so the board has its own Redis connection behind
// a mutex. Writing to it is best effort: a board that cannot reach Redis
// logs and lets the build go on (the next write connects again).
#pragma once

#include "queue/redis.h"
#include "queue_schema.h"

#include "build_board.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace nixery::queue {

class ProgressBoard {
  public:
    // Records expire after three heartbeats without a refresh. The secrets
    // to keep out of failure messages are read from the environment (the
    // Redis password, the bucket's keys), plus `secrets`.
    ProgressBoard(std::string redis, std::string helper_id,
                  std::chrono::seconds heartbeat,
                  std::vector<std::string> secrets = {});

    // A build of `job` starts: phase "resolving".
    void begin(const Job& job);
    // Its phase changes: "building" with layer `layer` of `layers`, or
    // "publishing".
    void phase(const std::string& key, std::string_view phase,
               std::size_t layer = 0, std::size_t layers = 0);
    // The build is over (whatever its outcome).
    void end(const std::string& key);
    // A job ended with an error: record it (redacted) among the failures.
    void failed(const Job& job, const Result& result, std::int64_t started_ms);
    // Every heartbeat: push every record's expiry forward.
    void refresh();

  private:
    void write(const std::vector<std::vector<std::string>>& commands);
    std::string record(board::Build& build);

    std::string redis_;
    std::string helper_id_;
    std::chrono::milliseconds ttl_;
    std::vector<std::string> secrets_;
    std::mutex mutex_;
    std::unique_ptr<RedisClient> client_;
    std::map<std::string, board::Build> builds_;
};

} // namespace nixery::queue
