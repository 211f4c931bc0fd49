// A blocking HTTP/1.1 client for the helper's requests to object stores
// (S3, Google Cloud Storage), on libcurl. One HttpConnection is one curl
// easy handle: reused request after request, it keeps its connections
// alive. It is not thread-safe; a caller that works from several threads
// keeps one per thread (the bucket backends keep a pool).
//
// It does one attempt per call: retries, signing and the meaning of a
// status are the caller's. Nothing here logs; error texts carry no URL
// (signed URLs hold signatures), only curl's description of what failed.
#pragma once

#include "sigv4.h"

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nixery {

// The request could not be carried out (connection refused, reset, timed
// out, TLS failure): no HTTP status came back.
class HttpTransportError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct HttpTimeouts {
    long connect_ms = 10'000;
    // A transfer slower than 1 KiB/s for this long is abandoned: a stalled
    // connection fails instead of hanging the build.
    long stall_s = 60;
    // The whole request, 0: no limit (large parts on slow links).
    long total_s = 0;
};

struct HttpRequest {
    std::string method; // GET, HEAD, PUT, POST, DELETE
    std::string url;
    std::vector<Header> headers; // sent as given, Host included when set
    std::string_view body;       // PUT and POST (may be empty)
    // At most this many bytes of a 2xx body are kept; a longer one aborts
    // the transfer and sets HttpResponse::too_large. Error bodies (3xx and
    // above) are kept up to 64 KiB whatever this is.
    std::size_t max_body = 1 << 20;
};

struct HttpResponse {
    long status = 0;
    std::vector<Header> headers; // names lowercased, of the final response
    std::string body;
    bool too_large = false;

    // The value of the header `name` (lowercase), empty when absent.
    std::string header(std::string_view name) const;
};

class HttpConnection {
  public:
    explicit HttpConnection(HttpTimeouts timeouts = {});
    ~HttpConnection();
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;

    // Throws HttpTransportError when no response came back.
    HttpResponse perform(const HttpRequest& request);

  private:
    void* curl_; // CURL*
    HttpTimeouts timeouts_;
};

} // namespace nixery
