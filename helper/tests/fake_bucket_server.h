// Test support: a small in-memory object store speaking the XML API that
// S3 and Google Cloud Storage share, on a thread with a socket on
// 127.0.0.1, for the bucket backends' unit tests. It answers PUT, GET,
// HEAD and DELETE of objects, ListObjectsV2 (pages of `page_size` keys,
// with continuation tokens) and multipart uploads, path-style
// (/<bucket>/<key>), as GCS and S3 do, and records every request (method,
// path, query, headers) so a test can check what was sent and how it was
// signed. It checks no signature: the GCS tests recompute them.
//
// A fault hook lets a test answer any request with a status of its choice,
// or drop the connection without an answer.
#pragma once

#include "sigv4.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace nixery::test {

struct RecordedRequest {
    std::string method;
    std::string target;            // as sent: path?query
    std::string path;              // decoded
    std::vector<QueryParam> query; // decoded, in the order sent
    std::vector<Header> headers;   // names lowercased
    std::uint64_t body_size = 0;
    std::string body_sha256;

    std::string header(std::string_view name) const;
    std::optional<std::string> param(std::string_view name) const;
};

class FakeBucketServer {
  public:
    // A status to answer with instead of the normal answer; 0: answer
    // normally; -1: close the connection without an answer.
    using Fault = std::function<int(const RecordedRequest&)>;

    explicit FakeBucketServer(std::string bucket, std::size_t page_size = 2);
    ~FakeBucketServer();
    FakeBucketServer(const FakeBucketServer&) = delete;
    FakeBucketServer& operator=(const FakeBucketServer&) = delete;

    std::string endpoint() const; // "http://127.0.0.1:<port>"
    const std::string& bucket() const { return bucket_; }

    void set_fault(Fault fault);
    std::vector<RecordedRequest> requests() const;
    void clear_requests();
    std::optional<std::string> object(const std::string& key) const;
    std::size_t pending_uploads() const;

  private:
    struct Object {
        std::string bytes;
        std::int64_t mtime;
    };
    struct Client {
        int fd;
        std::string in;
    };
    struct Answer {
        int status = 200;
        std::vector<Header> headers;
        std::string body;
        bool head = false; // HEAD: Content-Length without the body
    };

    void run();
    // Handles every whole request at the front of `c.in`; false when the
    // connection is to be closed.
    bool serve(Client& c);
    Answer answer(const RecordedRequest& r, const std::string& body);
    Answer list(const RecordedRequest& r);

    std::string bucket_;
    std::size_t page_size_;
    int listen_fd_ = -1;
    int wake_[2] = {-1, -1};
    int port_ = 0;
    mutable std::mutex mutex_;
    Fault fault_;
    std::vector<RecordedRequest> requests_;
    std::map<std::string, Object> objects_;
    std::map<std::string, std::map<int, std::string>> uploads_;
    std::uint64_t next_upload_ = 1;
    std::thread thread_;
};

} // namespace nixery::test
