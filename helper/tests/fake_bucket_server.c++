#include "fake_bucket_server.h"

#include "digest.h"

#include <arpa/inet.h>
#include <cctype>
#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace nixery::test {

namespace {

std::string lower(std::string s)
{
    for (char& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

std::string reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

std::string error_code_for(int status)
{
    switch (status) {
    case 403:
        return "AccessDenied";
    case 429:
        return "SlowDown";
    case 500:
        return "InternalError";
    case 503:
        return "SlowDown";
    default:
        return "BadRequest";
    }
}

std::string error_xml(std::string_view code)
{
    return "<?xml version='1.0' encoding='UTF-8'?><Error><Code>" +
           std::string(code) + "</Code><Message>fake</Message></Error>";
}

std::string iso_time(std::int64_t t)
{
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    return buf;
}

bool write_all(int fd, std::string_view s)
{
    while (!s.empty()) {
        ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

} // namespace

std::string RecordedRequest::header(std::string_view name) const
{
    for (const Header& h : headers) {
        if (h.name == name) {
            return h.value;
        }
    }
    return {};
}

std::optional<std::string> RecordedRequest::param(std::string_view name) const
{
    for (const QueryParam& q : query) {
        if (q.name == name) {
            return q.value;
        }
    }
    return std::nullopt;
}

FakeBucketServer::FakeBucketServer(std::string bucket, std::size_t page_size)
    : bucket_(std::move(bucket)), page_size_(page_size)
{
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listen_fd_ < 0 ||
        ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) !=
            0 ||
        ::pipe2(wake_, O_CLOEXEC) != 0) {
        throw std::runtime_error("fake bucket server: cannot listen");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
}

FakeBucketServer::~FakeBucketServer()
{
    (void)!::write(wake_[1], "x", 1);
    thread_.join();
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
}

std::string FakeBucketServer::endpoint() const
{
    return "http://127.0.0.1:" + std::to_string(port_);
}

void FakeBucketServer::set_fault(Fault fault)
{
    std::lock_guard lock(mutex_);
    fault_ = std::move(fault);
}

std::vector<RecordedRequest> FakeBucketServer::requests() const
{
    std::lock_guard lock(mutex_);
    return requests_;
}

void FakeBucketServer::clear_requests()
{
    std::lock_guard lock(mutex_);
    requests_.clear();
}

std::optional<std::string>
FakeBucketServer::object(const std::string& key) const
{
    std::lock_guard lock(mutex_);
    auto it = objects_.find(key);
    if (it == objects_.end()) {
        return std::nullopt;
    }
    return it->second.bytes;
}

std::size_t FakeBucketServer::pending_uploads() const
{
    std::lock_guard lock(mutex_);
    return uploads_.size();
}

void FakeBucketServer::run()
{
    std::vector<Client> clients;
    for (;;) {
        std::vector<pollfd> fds = {{wake_[0], POLLIN, 0},
                                   {listen_fd_, POLLIN, 0}};
        for (const Client& c : clients) {
            fds.push_back({c.fd, POLLIN, 0});
        }
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (fds[0].revents != 0) {
            break;
        }
        if (fds[1].revents & POLLIN) {
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd >= 0) {
                clients.push_back({fd, {}});
            }
        }
        for (std::size_t i = 2; i < fds.size(); ++i) {
            if (fds[i].revents == 0) {
                continue;
            }
            Client& c = clients[i - 2];
            char buf[65536];
            ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
            bool keep = n > 0;
            if (keep) {
                c.in.append(buf, static_cast<std::size_t>(n));
                keep = serve(c);
            }
            if (!keep) {
                ::close(c.fd);
                c.fd = -1;
            }
        }
        std::erase_if(clients, [](const Client& c) { return c.fd < 0; });
    }
    for (const Client& c : clients) {
        ::close(c.fd);
    }
}

bool FakeBucketServer::serve(Client& c)
{
    for (;;) {
        std::size_t end = c.in.find("\r\n\r\n");
        if (end == std::string::npos) {
            return true;
        }
        RecordedRequest r;
        std::size_t line_end = c.in.find("\r\n");
        std::string line = c.in.substr(0, line_end);
        std::size_t sp1 = line.find(' ');
        std::size_t sp2 = line.rfind(' ');
        if (sp1 == std::string::npos || sp2 <= sp1) {
            return false;
        }
        r.method = line.substr(0, sp1);
        r.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
        std::uint64_t length = 0;
        std::size_t pos = line_end + 2;
        while (pos < end) {
            std::size_t next = c.in.find("\r\n", pos);
            std::string h = c.in.substr(pos, next - pos);
            std::size_t colon = h.find(':');
            if (colon != std::string::npos) {
                std::string value = h.substr(colon + 1);
                value.erase(0, value.find_first_not_of(' '));
                r.headers.push_back({lower(h.substr(0, colon)), value});
                if (r.headers.back().name == "content-length") {
                    length = std::stoull(value);
                }
            }
            pos = next + 2;
        }
        if (c.in.size() < end + 4 + length) {
            return true; // the body is still coming
        }
        std::string body = c.in.substr(end + 4, length);
        c.in.erase(0, end + 4 + length);

        std::size_t q = r.target.find('?');
        r.path = uri_decode(r.target.substr(0, q));
        if (q != std::string::npos) {
            std::string query = r.target.substr(q + 1);
            std::size_t start = 0;
            while (start <= query.size()) {
                std::size_t amp = query.find('&', start);
                if (amp == std::string::npos) {
                    amp = query.size();
                }
                std::string kv = query.substr(start, amp - start);
                if (!kv.empty()) {
                    std::size_t eq = kv.find('=');
                    r.query.push_back({uri_decode(kv.substr(0, eq)),
                                       eq == std::string::npos
                                           ? ""
                                           : uri_decode(kv.substr(eq + 1))});
                }
                start = amp + 1;
            }
        }
        r.body_size = body.size();
        r.body_sha256 = sha256_hex(body);

        Answer a;
        int forced = 0;
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(r);
            if (fault_) {
                forced = fault_(r);
            }
        }
        if (forced < 0) {
            return false;
        }
        if (forced > 0) {
            a.status = forced;
            a.body = error_xml(error_code_for(forced));
        } else {
            a = answer(r, body);
        }
        std::string out = "HTTP/1.1 " + std::to_string(a.status) + " " +
                          reason(a.status) + "\r\n";
        for (const Header& h : a.headers) {
            out += h.name + ": " + h.value + "\r\n";
        }
        if (!a.head) {
            out += "Content-Length: " + std::to_string(a.body.size()) + "\r\n";
        }
        out += "\r\n";
        if (!a.head) {
            out += a.body;
        }
        if (!write_all(c.fd, out)) {
            return false;
        }
    }
}

FakeBucketServer::Answer FakeBucketServer::answer(const RecordedRequest& r,
                                                  const std::string& body)
{
    Answer a;
    std::string prefix = "/" + bucket_;
    if (r.path != prefix && !r.path.starts_with(prefix + "/")) {
        a.status = 404;
        a.body = error_xml("NoSuchBucket");
        return a;
    }
    std::string key = r.path.size() > prefix.size()
                          ? r.path.substr(prefix.size() + 1)
                          : std::string();
    std::lock_guard lock(mutex_);
    if (key.empty()) {
        if (r.method == "GET" && r.param("list-type") == "2") {
            return list(r);
        }
        a.status = 400;
        a.body = error_xml("InvalidRequest");
        return a;
    }
    std::optional<std::string> upload = r.param("uploadId");
    if (r.method == "POST" && r.param("uploads")) {
        std::string id = "upload-" + std::to_string(next_upload_++);
        uploads_[id];
        a.body =
            "<?xml version=\"1.0\"?><InitiateMultipartUploadResult><Bucket>" +
            bucket_ + "</Bucket><Key>" + key + "</Key><UploadId>" + id +
            "</UploadId></InitiateMultipartUploadResult>";
        return a;
    }
    if (upload) {
        auto it = uploads_.find(*upload);
        if (it == uploads_.end()) {
            a.status = 404;
            a.body = error_xml("NoSuchUpload");
            return a;
        }
        if (r.method == "PUT") {
            int n = std::stoi(r.param("partNumber").value_or("0"));
            it->second[n] = body;
            a.headers.push_back(
                {"ETag", "\"" + sha256_hex(body).substr(0, 32) + "\""});
            return a;
        }
        if (r.method == "DELETE") {
            uploads_.erase(it);
            a.status = 204;
            return a;
        }
        if (r.method == "POST") {
            // The parts named in the body, in order, with matching ETags.
            std::regex part("<PartNumber>([0-9]+)</"
                            "PartNumber><ETag>&quot;([0-9a-f]+)&quot;</ETag>");
            std::string whole;
            int expected = 1;
            for (auto m = std::sregex_iterator(body.begin(), body.end(), part);
                 m != std::sregex_iterator(); ++m, ++expected) {
                int n = std::stoi((*m)[1]);
                auto p = it->second.find(n);
                if (n != expected || p == it->second.end() ||
                    sha256_hex(p->second).substr(0, 32) != (*m)[2]) {
                    a.status = 400;
                    a.body = error_xml("InvalidPart");
                    return a;
                }
                whole += p->second;
            }
            if (expected == 1) {
                a.status = 400;
                a.body = error_xml("MalformedXML");
                return a;
            }
            objects_[key] = {std::move(whole), std::time(nullptr)};
            uploads_.erase(it);
            a.body =
                "<?xml version=\"1.0\"?><CompleteMultipartUploadResult><Key>" +
                key + "</Key></CompleteMultipartUploadResult>";
            return a;
        }
    }
    auto it = objects_.find(key);
    if (r.method == "PUT") {
        objects_[key] = {body, std::time(nullptr)};
        a.headers.push_back(
            {"ETag", "\"" + sha256_hex(body).substr(0, 32) + "\""});
        return a;
    }
    if (r.method == "DELETE") {
        if (it != objects_.end()) {
            objects_.erase(it);
        }
        a.status = 204;
        return a;
    }
    if (r.method == "GET" || r.method == "HEAD") {
        a.head = r.method == "HEAD";
        if (it == objects_.end()) {
            a.status = 404;
            a.body = error_xml("NoSuchKey");
            if (a.head) {
                a.headers.push_back({"Content-Length", "0"});
            }
            return a;
        }
        a.body = it->second.bytes;
        if (a.head) {
            a.headers.push_back(
                {"Content-Length", std::to_string(a.body.size())});
        }
        return a;
    }
    a.status = 400;
    a.body = error_xml("InvalidRequest");
    return a;
}

FakeBucketServer::Answer FakeBucketServer::list(const RecordedRequest& r)
{
    Answer a;
    std::string prefix = r.param("prefix").value_or("");
    std::optional<std::string> token = r.param("continuation-token");
    auto it = objects_.lower_bound(prefix);
    if (token) {
        if (!token->starts_with("after:")) {
            a.status = 400;
            a.body = error_xml("InvalidArgument");
            return a;
        }
        it = objects_.upper_bound(token->substr(6));
    }
    a.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
             "<ListBucketResult "
             "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>" +
             bucket_ + "</Name><Prefix>" + prefix + "</Prefix>";
    std::size_t n = 0;
    std::string last;
    for (; it != objects_.end() && it->first.starts_with(prefix) &&
           n < page_size_;
         ++it, ++n) {
        a.body += "<Contents><Key>" + it->first + "</Key><LastModified>" +
                  iso_time(it->second.mtime) +
                  "</LastModified><ETag>&quot;x&quot;</ETag><Size>" +
                  std::to_string(it->second.bytes.size()) +
                  "</Size><StorageClass>STANDARD</StorageClass></Contents>";
        last = it->first;
    }
    bool more = it != objects_.end() && it->first.starts_with(prefix);
    a.body += "<KeyCount>" + std::to_string(n) + "</KeyCount><IsTruncated>" +
              (more ? "true" : "false") + "</IsTruncated>";
    if (more) {
        a.body +=
            "<NextContinuationToken>after:" + last + "</NextContinuationToken>";
    }
    a.body += "</ListBucketResult>";
    return a;
}

} // namespace nixery::test
