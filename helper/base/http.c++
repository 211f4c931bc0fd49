#include "base/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>

namespace nixery {

namespace {

constexpr std::size_t max_error_body = 64 * 1024;

// curl_global_init is not thread-safe in every libcurl: once, before the
// first handle.
void init_curl()
{
    static std::once_flag once;
    std::call_once(once, [] {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            throw HttpTransportError("curl: global initialisation failed");
        }
    });
}

struct Transfer {
    CURL* curl;
    const HttpRequest* request;
    HttpResponse* response;
    std::size_t sent = 0;
};

std::string lowercase(std::string_view s)
{
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
        s.remove_suffix(1);
    }
    return s;
}

extern "C" size_t on_header(char* data, size_t size, size_t n, void* arg)
{
    auto* t = static_cast<Transfer*>(arg);
    std::string_view line(data, size * n);
    if (line.starts_with("HTTP/")) {
        // A new response (after a 100 Continue, say): only the last counts.
        t->response->headers.clear();
    } else if (std::size_t colon = line.find(':'); colon != line.npos) {
        t->response->headers.push_back(
            {lowercase(line.substr(0, colon)),
             std::string(trim(line.substr(colon + 1)))});
    }
    return size * n;
}

extern "C" size_t on_body(char* data, size_t size, size_t n, void* arg)
{
    auto* t = static_cast<Transfer*>(arg);
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    std::string& body = t->response->body;
    std::size_t len = size * n;
    if (status >= 300) {
        // Error bodies are read for their code only: keep the beginning.
        body.append(data,
                    std::min(len, max_error_body -
                                      std::min(max_error_body, body.size())));
        return len;
    }
    if (body.size() + len > t->request->max_body) {
        t->response->too_large = true;
        return 0; // aborts the transfer
    }
    body.append(data, len);
    return len;
}

extern "C" size_t on_read(char* buffer, size_t size, size_t n, void* arg)
{
    auto* t = static_cast<Transfer*>(arg);
    std::string_view rest = t->request->body.substr(t->sent);
    std::size_t len = std::min(rest.size(), size * n);
    std::memcpy(buffer, rest.data(), len);
    t->sent += len;
    return len;
}

extern "C" int on_seek(void* arg, curl_off_t offset, int origin)
{
    auto* t = static_cast<Transfer*>(arg);
    if (origin != SEEK_SET || offset < 0 ||
        static_cast<std::size_t>(offset) > t->request->body.size()) {
        return CURL_SEEKFUNC_CANTSEEK;
    }
    t->sent = static_cast<std::size_t>(offset);
    return CURL_SEEKFUNC_OK;
}

struct HeaderList {
    curl_slist* list = nullptr;
    ~HeaderList() { curl_slist_free_all(list); }
    void add(const std::string& line)
    {
        curl_slist* next = curl_slist_append(list, line.c_str());
        if (next == nullptr) {
            throw HttpTransportError("curl: out of memory");
        }
        list = next;
    }
};

} // namespace

std::string HttpResponse::header(std::string_view name) const
{
    for (const Header& h : headers) {
        if (h.name == name) {
            return h.value;
        }
    }
    return {};
}

HttpConnection::HttpConnection(HttpTimeouts timeouts)
    : curl_(nullptr), timeouts_(timeouts)
{
    init_curl();
    curl_ = curl_easy_init();
    if (curl_ == nullptr) {
        throw HttpTransportError("curl: cannot create a handle");
    }
}

HttpConnection::~HttpConnection()
{
    curl_easy_cleanup(curl_);
}

HttpResponse HttpConnection::perform(const HttpRequest& request)
{
    CURL* curl = static_cast<CURL*>(curl_);
    // Reset forgets the previous request's options but keeps the
    // connection cache: that is the keep-alive.
    curl_easy_reset(curl);
    HttpResponse response;
    Transfer t{curl, &request, &response};
    char error[CURL_ERROR_SIZE] = "";
    HeaderList headers;
    for (const Header& h : request.headers) {
        headers.add(h.name + ": " + h.value);
    }
    // No "Expect: 100-continue" round trip before each part.
    headers.add("Expect:");

    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeouts_.connect_ms);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, timeouts_.stall_s);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeouts_.total_s);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.list);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);

    if (request.method == "GET") {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD") {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (request.method == "PUT" || request.method == "POST") {
        // An upload from memory under either method, so that curl adds no
        // Content-Type of its own to a POST.
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, &t);
        curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(curl, CURLOPT_SEEKDATA, &t);
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size()));
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }

    CURLcode rc = curl_easy_perform(curl);
    // The handle outlives this call's buffers: it must not point at them.
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    if (rc == CURLE_WRITE_ERROR && response.too_large) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
        return response;
    }
    if (rc != CURLE_OK) {
        throw HttpTransportError(std::string("curl: ") +
                                 (error[0] ? error : curl_easy_strerror(rc)));
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
}

} // namespace nixery
