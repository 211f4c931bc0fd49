// nixery-helper: the build helper daemon. Takes build jobs from Redis,
// builds the images and announces the results (daemon.h). See
// docs/helper.md (its flags; nixery-helper --help lists them) and
// docs/redis.md.
#include "base/log.h"
#include "cmd/flags.h"
#include "cmd/layering_flag.h"
#include "cmd/storage_setup.h"
#include "image/image_index.h"
#include "image/popularity.h"
#include "nix/package_source.h"
#include "queue/builder.h"
#include "queue/daemon.h"
#include "queue/metrics.h"
#include "queue/metrics_server.h"
#include "queue/nix_builder.h"
#include "queue/redis.h"
#include "queue/tags_publisher.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <optional>
#include <pthread.h>
#include <string>
#include <unistd.h>

namespace {

using namespace nixery;
using namespace std::chrono_literals;

// The command line: the daemon's options and how to build.
struct HelperFlags {
    queue::DaemonOptions daemon;
    cmd::StorageFlags storage; // --storage, --gc-lock (--redis: daemon's)
    SourceSettings source;     // --channel, --pkgs-repo, --pkgs-path
    std::string nix_dir, gc_roots, popularity;
    std::size_t layer_budget = 94;
    Layering layering = Layering::stable;
    std::chrono::seconds build_timeout{600};
    std::string fake_builder;
    std::chrono::milliseconds fake_delay{0};
    std::vector<Arch> platforms{Arch::amd64};
    std::string metrics_listen;
    // How often a git source's branches and tags are published for
    // tags/list (tags_publisher.h).
    std::chrono::seconds tags_refresh{30};
};

HelperFlags parse_flags(int argc, char** argv)
{
    HelperFlags f;
    queue::DaemonOptions& d = f.daemon;
    d.redis = "127.0.0.1:6379";
    cmd::Flags flags(
        "nixery-helper", "--storage DIR [options]",
        "environment: NIXERY_REDIS_PASSWORD (and NIXERY_REDIS_USER) for Redis "
        "AUTH;\nNIXERY_PLATFORMS for --platforms; NIXERY_LAYERING for "
        "--layering\n");
    // The default timeout is NIX_TIMEOUT's, as for Nixery; checked as a
    // value of --build-timeout.
    const char* env_timeout = std::getenv("NIX_TIMEOUT");
    std::string build_timeout = env_timeout ? env_timeout : "600";
    // Likewise NIXERY_PLATFORMS for --platforms.
    const char* env_platforms = std::getenv("NIXERY_PLATFORMS");
    std::string platforms =
        env_platforms && *env_platforms ? env_platforms : "linux/amd64";
    flags
        .text("--redis", &d.redis, "ADDR",
              "Redis: host:port or unix:/path (default 127.0.0.1:6379)")
        .text("--storage", &f.storage.storage, "DIR",
              "storage root shared with nginx (or\n"
              "NIXERY_STORAGE_BACKEND=s3|gcs: a bucket; docs/helper.md)")
        .number("--concurrency", &d.concurrency, 1, "N",
                "images built at once (default 1)")
        .text("--channel", &f.source.channel, "REF",
              "package source: a nixpkgs branch or commit")
        .text("--pkgs-repo", &f.source.pkgs_repo, "URL",
              "package source: a git repository")
        .text("--pkgs-path", &f.source.pkgs_path, "DIR",
              "package source: a local package set (first given of\n"
              "the three wins; else NIXERY_CHANNEL > NIXERY_PKGS_REPO\n"
              "> NIXERY_PKGS_PATH)")
        .text("--nix-dir", &f.nix_dir, "DIR",
              "the project's nix/ expressions (default\n"
              "$NIXERY_NIX_DIR or ./nix)")
        .text("--gc-roots", &f.gc_roots, "DIR",
              "GC roots held while packing (default\n"
              "$TMPDIR/nixery-gcroots)")
        .text("--popularity", &f.popularity, "FILE|URL",
              "package popularity JSON for layering")
        .text("--platforms", &platforms, "LIST",
              "platforms each image is built for, the image\n"
              "index naming them: linux/amd64[,linux/arm64]\n"
              "(default NIXERY_PLATFORMS or linux/amd64)")
        .number("--layer-budget", &f.layer_budget, 1, "N",
                "store-path layers per image (default 94)")
        .text("--build-timeout", &build_timeout, "S",
              "whole Nix call, seconds (default NIX_TIMEOUT or 600)")
        .number("--unknown-ttl", &d.unknown_ttl, 1, "S",
                "remember unknown packages (default 60)")
        .number("--moving-ttl", &d.moving_ttl, 1, "S",
                "index lifetime for moving sources (default 3600)")
        .number("--heartbeat", &d.heartbeat, 1, "S",
                "heartbeat period (default 5)")
        .number("--tags-refresh", &f.tags_refresh, 1, "S",
                "git source: publish its branches and tags for\n"
                "tags/list every S seconds (default 30)")
        .number("--max-deliveries", &d.max_deliveries, 1, "N",
                "attempts before a job is abandoned (default 3)")
        .text("--helper-id", &d.helper_id, "ID",
              "consumer name (default <host>-<pid>)")
        .text("--metrics-listen", &f.metrics_listen, "ADDR:PORT",
              "serve Prometheus metrics on http://ADDR:PORT/metrics\n"
              "(default: none)")
        .text("--fake-builder", &f.fake_builder, "DIR",
              "TEST AID: publish a made-up image instead of\n"
              "running Nix")
        .number("--fake-delay-ms", &f.fake_delay, 0, "MS",
                "TEST AID: make each fake build take MS");
    std::string layering;
    cmd::add_layering_flag(flags, &layering);
    cmd::add_lock_flags(flags, &f.storage, false);
    flags.parse_or_exit(argc, argv);
    f.layering = cmd::layering_or_fail(flags, layering);
    cmd::check_storage_flags(flags, f.storage);
    f.storage.redis = d.redis; // the Redis lock uses the queue's Redis
    try {
        f.build_timeout = std::chrono::seconds(
            cmd::parse_number("--build-timeout", build_timeout, 1,
                              std::numeric_limits<long long>::max()));
    } catch (const cmd::UsageError& e) {
        flags.fail(e.what());
    }
    try {
        f.platforms = parse_platforms(platforms);
    } catch (const std::invalid_argument& e) {
        flags.fail(std::string("--platforms: ") + e.what());
    }
    return f;
}

// The builder the flags ask for; sets daemon.pinned to match its source,
// and `refs` to the repository's refs when the source is git.
// Exits 2 when the package source or the popularity cannot be used.
// `storage` and `lock` outlive the builder.
queue::Builder make_builder(HelperFlags& f, Storage& storage,
                            CollectionLock& lock,
                            std::shared_ptr<GitRefs>& refs)
{
    queue::DaemonOptions& d = f.daemon;
    if (!f.fake_builder.empty()) {
        d.pinned = [](const std::string& tag) { return is_commit(tag); };
        log::warn("fake builder in use (test aid): no Nix, made-up images",
                  {{"dir", f.fake_builder}});
        return queue::make_fake_builder({f.fake_builder, f.fake_delay},
                                        storage);
    }
    NixBuilderOptions nix;
    try {
        nix.source =
            choose_package_source(f.source, source_settings_from_env());
        // Loaded once; an unreadable source is a startup error.
        nix.popularity = load_popularity(f.popularity);
    } catch (const std::exception& e) {
        std::cerr << "nixery-helper: " << e.what() << "\n";
        std::exit(2);
    }
    nix.nix.nix_dir = f.nix_dir;
    nix.nix.timeout = f.build_timeout;
    nix.nix.gc_roots_dir = f.gc_roots;
    if (nix.source.type == PackageSource::Type::git) {
        nix.nix.git_refs = std::make_shared<GitRefs>(nix.source.value);
        refs = nix.nix.git_refs;
    }
    nix.layer_budget = f.layer_budget;
    nix.layering = f.layering;
    nix.platforms = f.platforms;
    log::info("platforms", {{"platforms", format_platforms(f.platforms)}});
    log::info("layering", {{"layering", layering_name(f.layering)}});
    PackageSource source = nix.source;
    d.pinned = [source](const std::string& tag) { return source.pinned(tag); };
    return make_nix_builder(std::move(nix), storage, lock);
}

// Runs the daemon until SIGTERM or SIGINT; a second signal hands the
// running builds back instead of waiting for them.
int run_until_signalled(queue::DaemonOptions options, Storage& storage,
                        queue::Builder builder,
                        queue::MetricsServer* metrics_server)
{
    // Signals are taken synchronously by the main thread only.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    queue::Daemon daemon(std::move(options), storage, std::move(builder));
    daemon.start();
    if (metrics_server != nullptr) {
        metrics_server->start();
    }

    int sig = 0;
    sigwait(&set, &sig);
    log::info("stopping: finishing running builds (signal again to hand "
              "them back)",
              {{"signal", sig}});
    daemon.request_stop();
    timespec tick{0, 100'000'000};
    while (!daemon.wait_for(0ms)) {
        if (sigtimedwait(&set, nullptr, &tick) > 0) {
            daemon.hand_back();
            log::info("stopped: held jobs handed back");
            std::_Exit(0);
        }
    }
    daemon.join();
    log::info("stopped", {{"jobs_done", daemon.jobs_done()}});
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    HelperFlags flags = parse_flags(argc, argv);
    if (const char* lvl = std::getenv("NIXERY_LOG_LEVEL");
        lvl && std::strcmp(lvl, "debug") == 0) {
        log::set_level(log::Level::debug);
    }
    cmd::set_redis_auth_from_env();
    std::unique_ptr<Storage> storage;
    std::unique_ptr<CollectionLock> lock;
    try {
        storage = cmd::open_storage(flags.storage);
        lock = cmd::open_collection_lock(flags.storage, *storage);
    } catch (const std::exception& e) {
        std::cerr << "nixery-helper: " << e.what() << "\n";
        return 2;
    }
    log::info("storage",
              {{"storage", storage->describe()}, {"lock", lock->describe()}});
    // What the builders and the daemon write is counted (bytes written).
    std::unique_ptr<Storage> metered = queue::metered_storage(*storage);
    std::unique_ptr<queue::MetricsServer> metrics_server;
    if (!flags.metrics_listen.empty()) {
        std::string redis = flags.daemon.redis;
        try {
            // Bound before any build starts: a taken port is a startup
            // error, not a silent lack of metrics.
            metrics_server = std::make_unique<queue::MetricsServer>(
                flags.metrics_listen, [redis] {
                    std::optional<queue::QueueState> state;
                    try {
                        state = queue::read_queue_state(redis);
                    } catch (const std::exception& e) {
                        log::warn("metrics: queue state unreadable",
                                  {{"error", e.what()}});
                    }
                    return queue::metrics().render(state);
                });
        } catch (const std::exception& e) {
            std::cerr << "nixery-helper: " << e.what() << "\n";
            return 2;
        }
    }
    std::shared_ptr<GitRefs> refs;
    queue::Builder builder = make_builder(flags, *metered, *lock, refs);
    // A git source: tags/list lists its branches and tags, which only the
    // helper can see (docs/redis.md, `nixery:tags`).
    std::unique_ptr<queue::TagsPublisher> tags;
    if (refs) {
        if (flags.daemon.helper_id.empty()) {
            flags.daemon.helper_id = queue::default_helper_id();
        }
        tags =
            std::make_unique<queue::TagsPublisher>(queue::TagsPublisherOptions{
                flags.daemon.redis, flags.daemon.helper_id, flags.tags_refresh,
                [refs] {
                    RefNames names = refs->list();
                    return std::vector<std::string>(names.begin(), names.end());
                }});
        tags->start();
    }
    int rc = run_until_signalled(std::move(flags.daemon), *metered,
                                 std::move(builder), metrics_server.get());
    if (tags) {
        tags->stop();
    }
    return rc;
}
