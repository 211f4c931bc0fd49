#include "cmd/storage_setup.h"

#include "queue/redis.h"
#include "queue/redis_lock.h"
#include "storage/config.h"

#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace nixery::cmd {

namespace {

// TEST AID (NIXERY_TEST_KILL_AT_PUT=N): the process kills itself with
// SIGKILL just before the N-th object it publishes (put or put_file,
// counted across threads), so that the crash tests reach every step of
// publishing, however short, and not only where random timing lands
// (t/210-crash-kill.t). Everything else passes through.
class KillPointStorage final : public Storage {
  public:
    KillPointStorage(std::unique_ptr<Storage> inner, std::uint64_t at)
        : inner_(std::move(inner)), at_(at)
    {
    }

    std::string describe() const override { return inner_->describe(); }
    const std::string& local_tmp() const override
    {
        return inner_->local_tmp();
    }
    void put(std::string_view key, std::string_view bytes) override
    {
        count();
        inner_->put(key, bytes);
    }
    void put_file(std::string_view key, const std::string& path) override
    {
        count();
        inner_->put_file(key, path);
    }
    std::optional<std::string> get(std::string_view key,
                                   std::size_t max) override
    {
        return inner_->get(key, max);
    }
    bool read(std::string_view key,
              const std::function<void(std::string_view)>& each) override
    {
        return inner_->read(key, each);
    }
    std::optional<std::uint64_t> size(std::string_view key) override
    {
        return inner_->size(key);
    }
    void list(std::string_view prefix,
              const std::function<void(const StoredObject&)>& each) override
    {
        inner_->list(prefix, each);
    }
    void remove(std::string_view key) override { inner_->remove(key); }
    std::optional<std::string> filesystem_root() const override
    {
        return inner_->filesystem_root();
    }

  private:
    void count()
    {
        if (puts_.fetch_add(1) + 1 == at_) {
            ::kill(::getpid(), SIGKILL);
            ::pause();
        }
    }

    std::unique_ptr<Storage> inner_;
    std::uint64_t at_;
    std::atomic<std::uint64_t> puts_{0};
};

} // namespace

void add_lock_flags(Flags& flags, StorageFlags* target, bool redis_flag)
{
    flags.text("--gc-lock", &target->gc_lock, "KIND",
               "the collection lock: flock (gc.lock in the storage\n"
               "directory; the default for a directory) or redis\n"
               "(leases in Redis, for storage shared by hosts\n"
               "without a common flock; the default for buckets)");
    if (redis_flag) {
        flags.text("--redis", &target->redis, "ADDR",
                   "Redis for the redis lock: host:port or unix:/path\n"
                   "(default 127.0.0.1:6379)");
    }
}

void check_storage_flags(const Flags& flags, const StorageFlags& target)
{
    // A bucket is named by the environment; a directory by --storage or
    // NIXERY_STORAGE_PATH (storage/config.h).
    std::optional<std::string> backend = process_env("NIXERY_STORAGE_BACKEND");
    bool filesystem = !backend || *backend == "filesystem";
    if (filesystem && target.storage.empty() &&
        !process_env("NIXERY_STORAGE_PATH")) {
        flags.fail("--storage is required (or NIXERY_STORAGE_PATH, or "
                   "NIXERY_STORAGE_BACKEND=s3|gcs with its bucket)");
    }
    if (!target.gc_lock.empty() && target.gc_lock != "flock" &&
        target.gc_lock != "redis") {
        flags.fail("--gc-lock: flock or redis, not '" + target.gc_lock + "'");
    }
}

std::unique_ptr<Storage> open_storage(const StorageFlags& flags)
{
    StorageConfig config = storage_config_from_env(
        flags.storage.empty() ? std::nullopt
                              : std::optional<std::string>(flags.storage));
    struct stat st;
    if (config.backend == StorageBackend::filesystem && !flags.create &&
        (::stat(config.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
        throw std::runtime_error("not a directory: " + config.root);
    }
    std::unique_ptr<Storage> storage = nixery::open_storage(config);
    if (config.backend != StorageBackend::filesystem) {
        // Refused credentials or a missing bucket show now, naming the
        // setting to check, rather than as a failed first build.
        storage->get("index/00/nixery-access-check", 64);
    }
    if (std::optional<std::string> at =
            process_env("NIXERY_TEST_KILL_AT_PUT")) {
        std::uint64_t n = 0;
        auto [end, ec] =
            std::from_chars(at->data(), at->data() + at->size(), n);
        if (ec != std::errc() || end != at->data() + at->size() || n == 0) {
            throw std::runtime_error("NIXERY_TEST_KILL_AT_PUT: not a count: " +
                                     *at);
        }
        return std::make_unique<KillPointStorage>(std::move(storage), n);
    }
    return storage;
}

std::unique_ptr<CollectionLock> open_collection_lock(const StorageFlags& flags,
                                                     const Storage& storage)
{
    std::optional<std::string> root = storage.filesystem_root();
    std::string kind = flags.gc_lock;
    if (kind.empty()) {
        kind = root ? "flock" : "redis";
    }
    if (kind == "flock") {
        if (!root) {
            throw UsageError("--gc-lock flock: " + storage.describe() +
                             " is not a directory; use the redis lock");
        }
        return open_flock_lock(*root);
    }
    if (kind != "redis") {
        throw UsageError("--gc-lock: flock or redis, not '" + kind + "'");
    }
    return queue::open_redis_lock({.redis = flags.redis});
}

void set_redis_auth_from_env()
{
    if (const char* pass = std::getenv("NIXERY_REDIS_PASSWORD");
        pass && *pass) {
        const char* user = std::getenv("NIXERY_REDIS_USER");
        queue::RedisClient::set_auth(user ? user : "", pass);
    }
}

} // namespace nixery::cmd
