#include "storage/bucket.h"

#include "base/log.h"
#include "storage/bucket_xml.h"
#include "storage/key.h"

#include "atomic_file.h"
#include "digest.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fcntl.h>
#include <random>
#include <sys/stat.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace nixery {

namespace {

bool is_retryable(const HttpResponse& r)
{
    if (r.status >= 500 || r.status == 429) {
        return true;
    }
    // S3 answers 400 RequestTimeout when a body came too slowly.
    return r.status == 400 && parse_error_code(r.body) == "RequestTimeout";
}

std::string errno_text(int err)
{
    return std::error_code(err, std::generic_category()).message();
}

// Read exactly `n` bytes at `offset`; false when the file ends first.
bool read_at(int fd, char* out, std::size_t n, std::uint64_t offset)
{
    while (n > 0) {
        ssize_t got = ::pread(fd, out, n, static_cast<off_t>(offset));
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            throw StorageError("storage: cannot read the local file: " +
                               errno_text(errno));
        }
        if (got == 0) {
            return false;
        }
        out += got;
        n -= static_cast<std::size_t>(got);
        offset += static_cast<std::uint64_t>(got);
    }
    return true;
}

std::chrono::milliseconds backoff(const BucketTuning& t, int attempt)
{
    thread_local std::minstd_rand rng(std::random_device{}());
    auto cap = t.first_backoff * (1LL << std::min(attempt - 1, 20));
    cap = std::min<std::chrono::milliseconds>(cap, t.max_backoff);
    // Full jitter: helpers retrying together do not retry in step.
    std::uniform_int_distribution<long long> pick(cap.count() / 2, cap.count());
    return std::chrono::milliseconds(pick(rng));
}

} // namespace

// A connection taken from the pool for one call, given back after.
class BucketStorage::Lease {
  public:
    explicit Lease(BucketStorage& s) : s_(s), c_(s.take_connection()) {}
    ~Lease() { s_.give_back(std::move(c_)); }
    HttpConnection& operator*() { return *c_; }

  private:
    BucketStorage& s_;
    std::unique_ptr<HttpConnection> c_;
};

BucketStorage::BucketStorage(std::unique_ptr<BucketSigner> signer,
                             std::string local_tmp, BucketTuning tuning)
    : signer_(std::move(signer)), local_tmp_(std::move(local_tmp)),
      tuning_(std::move(tuning))
{
    if (local_tmp_.empty()) {
        local_tmp_ = default_bucket_local_tmp();
    }
    make_directories(local_tmp_);
    if (tuning_.max_attempts < 1 || tuning_.part_size == 0) {
        throw StorageError("storage: bad bucket tuning (attempts, part size)");
    }
}

BucketStorage::~BucketStorage() = default;

std::unique_ptr<HttpConnection> BucketStorage::take_connection()
{
    {
        std::lock_guard lock(pool_mutex_);
        if (!idle_.empty()) {
            auto c = std::move(idle_.back());
            idle_.pop_back();
            return c;
        }
    }
    try {
        return std::make_unique<HttpConnection>(tuning_.timeouts);
    } catch (const HttpTransportError& e) {
        throw StorageError(describe() + ": " + e.what());
    }
}

void BucketStorage::give_back(std::unique_ptr<HttpConnection> connection)
{
    std::lock_guard lock(pool_mutex_);
    idle_.push_back(std::move(connection));
}

HttpResponse BucketStorage::send(const BucketRequest& request,
                                 std::string_view body, std::size_t max_body)
{
    Lease connection(*this);
    for (int attempt = 1;; ++attempt) {
        // Signed anew each time: the signature carries the time.
        HttpRequest http = signer_->sign(request, std::time(nullptr));
        http.body = body;
        http.max_body = max_body;
        std::string why;
        try {
            HttpResponse response = (*connection).perform(http);
            if (!is_retryable(response) || attempt == tuning_.max_attempts) {
                return response;
            }
            std::string code = parse_error_code(response.body);
            why = "HTTP " + std::to_string(response.status) +
                  (code.empty() ? "" : " " + code);
        } catch (const HttpTransportError& e) {
            if (attempt == tuning_.max_attempts) {
                throw StorageError(describe() + ": " + request.method + " " +
                                   request.key + ": " + e.what() + " (" +
                                   std::to_string(attempt) + " attempts)");
            }
            why = e.what();
        }
        auto wait = backoff(tuning_, attempt);
        log::warn("storage request failed, retrying",
                  {{"storage", describe()},
                   {"method", request.method},
                   {"key", request.key},
                   {"error", why},
                   {"attempt", attempt},
                   {"wait_ms", static_cast<std::int64_t>(wait.count())}});
        std::this_thread::sleep_for(wait);
    }
}

void BucketStorage::fail(std::string_view what, std::string_view key,
                         const HttpResponse& response) const
{
    std::string code = parse_error_code(response.body);
    std::string message = describe() + ": " + std::string(what) + " " +
                          std::string(key) + ": HTTP " +
                          std::to_string(response.status);
    if (!code.empty()) {
        message += " " + code;
    }
    if (response.status == 401 || response.status == 403) {
        message += " (" + signer_->identity() + ")";
    }
    if (std::string hint = signer_->hint(code); !hint.empty()) {
        message += ": " + hint;
    }
    throw StorageError(message);
}

void BucketStorage::put(std::string_view key, std::string_view bytes)
{
    check_storage_key(key);
    BucketRequest request{"PUT", std::string(key), {}, {}, sha256_hex(bytes)};
    HttpResponse response = send(request, bytes);
    if (response.status != 200) {
        fail("PUT", key, response);
    }
}

void BucketStorage::put_file(std::string_view key, const std::string& path)
{
    struct Unlink {
        const std::string& p;
        ~Unlink() { ::unlink(p.c_str()); }
    } unlink_always{path};
    check_storage_key(key);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw StorageError("storage: cannot open " + path +
                           " to publish it: " + errno_text(errno));
    }
    struct Close {
        int fd;
        ~Close() { ::close(fd); }
    } close_fd{fd};
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        throw StorageError("storage: cannot stat " + path + ": " +
                           errno_text(errno));
    }
    auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > tuning_.part_size) {
        put_part_by_part(key, fd, size);
        return;
    }
    std::string bytes(size, '\0');
    if (!read_at(fd, bytes.data(), bytes.size(), 0)) {
        throw StorageError("storage: " + path + " got shorter while " +
                           std::string(key) + " was published from it");
    }
    put(key, bytes);
}

void BucketStorage::put_part_by_part(std::string_view key, int fd,
                                     std::uint64_t size)
{
    BucketRequest start{"POST", std::string(key), {{"uploads", ""}}, {}, ""};
    start.payload_hash = sha256_hex("");
    HttpResponse response = send(start);
    if (response.status != 200) {
        fail("POST (new multipart upload)", key, response);
    }
    std::string upload_id = parse_upload_id(response.body);
    try {
        // One buffer for every part: memory stays at one part whatever the
        // file's size.
        std::string part;
        std::vector<std::string> etags;
        for (std::uint64_t offset = 0; offset < size;) {
            std::size_t n = static_cast<std::size_t>(
                std::min<std::uint64_t>(tuning_.part_size, size - offset));
            part.resize(n);
            if (!read_at(fd, part.data(), n, offset)) {
                throw StorageError("storage: the local file got shorter "
                                   "while " +
                                   std::string(key) + " was published from it");
            }
            int number = static_cast<int>(etags.size()) + 1;
            BucketRequest put{"PUT",
                              std::string(key),
                              {{"partNumber", std::to_string(number)},
                               {"uploadId", upload_id}},
                              {},
                              sha256_hex(part)};
            response = send(put, part);
            std::string etag = response.header("etag");
            if (response.status != 200 || etag.empty()) {
                fail("PUT (part " + std::to_string(number) + ")", key,
                     response);
            }
            etags.push_back(std::move(etag));
            offset += n;
            if (tuning_.after_part) {
                tuning_.after_part(number);
            }
        }
        complete_upload(key, upload_id, etags, size);
    } catch (...) {
        // The parts are not an object: nothing is visible. Aborting frees
        // them now rather than at the bucket's lifecycle rule.
        abort_upload(key, upload_id);
        throw;
    }
}

void BucketStorage::complete_upload(std::string_view key,
                                    const std::string& upload_id,
                                    const std::vector<std::string>& etags,
                                    std::uint64_t size)
{
    std::string body = complete_multipart_body(etags);
    BucketRequest request{"POST",
                          std::string(key),
                          {{"uploadId", upload_id}},
                          {{"Content-Type", "application/xml"}},
                          sha256_hex(body)};
    HttpResponse response = send(request, body);
    if (response.status == 200) {
        // S3 can fail a completion after its 200 has started: the error is
        // then the body.
        if (xml_root_name(response.body) == "CompleteMultipartUploadResult") {
            return;
        }
        response.status = 500;
        fail("POST (complete multipart upload)", key, response);
    }
    // A retried completion whose first attempt went through: the upload is
    // gone and the object is there.
    if (response.status == 404 &&
        parse_error_code(response.body) == "NoSuchUpload" &&
        this->size(key) == size) {
        return;
    }
    fail("POST (complete multipart upload)", key, response);
}

void BucketStorage::abort_upload(std::string_view key,
                                 const std::string& upload_id)
{
    try {
        BucketRequest request{"DELETE",
                              std::string(key),
                              {{"uploadId", upload_id}},
                              {},
                              sha256_hex("")};
        HttpResponse response = send(request);
        if (response.status == 204 || response.status == 200 ||
            response.status == 404) {
            return;
        }
        log::warn("storage: cannot abort a multipart upload",
                  {{"storage", describe()},
                   {"key", key},
                   {"status", response.status},
                   {"code", parse_error_code(response.body)}});
    } catch (const std::exception& e) {
        log::warn("storage: cannot abort a multipart upload",
                  {{"storage", describe()}, {"key", key}, {"error", e.what()}});
    }
}

std::optional<std::string> BucketStorage::get(std::string_view key,
                                              std::size_t max)
{
    check_storage_key(key);
    BucketRequest request{"GET", std::string(key), {}, {}, sha256_hex("")};
    HttpResponse response = send(request, {}, max);
    if (response.status == 200 && !response.too_large) {
        return std::move(response.body);
    }
    if (response.too_large) {
        throw StorageError(describe() + ": GET " + std::string(key) +
                           ": larger than expected (at most " +
                           std::to_string(max) + " bytes)");
    }
    if (response.status == 404 &&
        parse_error_code(response.body) == "NoSuchKey") {
        return std::nullopt;
    }
    fail("GET", key, response);
}

std::optional<std::uint64_t> BucketStorage::size(std::string_view key)
{
    check_storage_key(key);
    BucketRequest request{"HEAD", std::string(key), {}, {}, sha256_hex("")};
    HttpResponse response = send(request);
    // A HEAD answer has no body to tell a missing key from a missing
    // bucket: a missing bucket shows on the first put or list.
    if (response.status == 404) {
        return std::nullopt;
    }
    std::string length = response.header("content-length");
    std::uint64_t n = 0;
    auto [end, ec] =
        std::from_chars(length.data(), length.data() + length.size(), n);
    if (response.status != 200 || length.empty() || ec != std::errc() ||
        end != length.data() + length.size()) {
        fail("HEAD", key, response);
    }
    return n;
}

void BucketStorage::list(std::string_view prefix,
                         const std::function<void(const StoredObject&)>& each)
{
    check_storage_prefix(prefix);
    std::string token;
    for (;;) {
        BucketRequest request{
            "GET",
            "",
            {{"list-type", "2"}, {"prefix", std::string(prefix)}},
            {},
            sha256_hex("")};
        if (!token.empty()) {
            request.query.push_back({"continuation-token", token});
        }
        HttpResponse response = send(request, {}, 64u << 20);
        if (response.status != 200 || response.too_large) {
            fail("LIST", prefix, response);
        }
        ListPage page = parse_list_page(response.body);
        for (const StoredObject& o : page.objects) {
            each(o);
        }
        if (!page.truncated) {
            return;
        }
        if (page.next_token.empty() || page.next_token == token) {
            throw StorageError(describe() + ": LIST " + std::string(prefix) +
                               ": a truncated page without a new "
                               "continuation token");
        }
        token = std::move(page.next_token);
    }
}

void BucketStorage::remove(std::string_view key)
{
    check_storage_key(key);
    BucketRequest request{"DELETE", std::string(key), {}, {}, sha256_hex("")};
    HttpResponse response = send(request);
    if (response.status == 204 || response.status == 200 ||
        (response.status == 404 &&
         parse_error_code(response.body) == "NoSuchKey")) {
        return;
    }
    fail("DELETE", key, response);
}

std::string default_bucket_local_tmp()
{
    const char* base = std::getenv("TMPDIR");
    return std::string(base && *base ? base : "/tmp") + "/nixery-storage";
}

std::optional<BucketEndpoint> parse_bucket_endpoint(std::string_view url)
{
    BucketEndpoint e;
    std::size_t sep = url.find("://");
    if (sep == url.npos) {
        return std::nullopt;
    }
    e.scheme = std::string(url.substr(0, sep));
    std::string_view host = url.substr(sep + 3);
    if (host.ends_with('/')) {
        host.remove_suffix(1);
    }
    if ((e.scheme != "http" && e.scheme != "https") || host.empty() ||
        host.find_first_of("/?#@ \t\r\n") != host.npos) {
        return std::nullopt;
    }
    e.host = std::string(host);
    return e;
}

} // namespace nixery
