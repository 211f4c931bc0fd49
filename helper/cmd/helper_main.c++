// nixery-helper: the build helper daemon. Takes build jobs from Redis,
// builds the images and announces the results (daemon.h). See
// docs/helper.md and docs/redis.md.
#include "base/log.h"
#include "image/popularity.h"
#include "nix/package_source.h"
#include "queue/builder.h"
#include "queue/daemon.h"
#include "queue/nix_builder.h"
#include "queue/redis.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <pthread.h>
#include <string>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;

const char usage[] =
    "usage: nixery-helper [options]\n"
    "  --redis ADDR          Redis: host:port or unix:/path "
    "(default 127.0.0.1:6379)\n"
    "  --storage DIR         storage root shared with nginx (required)\n"
    "  --concurrency N       images built at once (default 1)\n"
    "  --channel REF | --pkgs-repo URL | --pkgs-path DIR\n"
    "                        package source (else NIXERY_CHANNEL > "
    "NIXERY_PKGS_REPO\n"
    "                        > NIXERY_PKGS_PATH)\n"
    "  --nix-dir DIR         the project's nix/ expressions (default "
    "$NIXERY_NIX_DIR\n"
    "                        or ./nix)\n"
    "  --gc-roots DIR        GC roots held while packing (default "
    "$TMPDIR/nixery-gcroots)\n"
    "  --popularity FILE|URL package popularity JSON for layering\n"
    "  --layer-budget N      store-path layers per image (default 94)\n"
    "  --build-timeout S     whole Nix call, seconds (default NIX_TIMEOUT "
    "or 600)\n"
    "  --unknown-ttl S       remember unknown packages (default 60)\n"
    "  --moving-ttl S        index lifetime for moving sources "
    "(default 3600)\n"
    "  --heartbeat S         heartbeat period (default 5)\n"
    "  --max-deliveries N    attempts before a job is abandoned "
    "(default 3)\n"
    "  --helper-id ID        consumer name (default <host>-<pid>)\n"
    "  --fake-builder DIR    TEST AID: publish a made-up image instead of "
    "running Nix\n"
    "  --fake-delay-ms MS    TEST AID: make each fake build take MS\n"
    "environment: NIXERY_REDIS_PASSWORD (and NIXERY_REDIS_USER) for Redis "
    "AUTH\n"
    "";

[[noreturn]] void fail(const std::string& why)
{
    std::cerr << "nixery-helper: " << why << "\n" << usage;
    std::exit(2);
}

long number(const std::string& flag, const std::string& value, long min)
{
    char* end = nullptr;
    errno = 0;
    long n = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || errno != 0 || n < min) {
        fail(flag + " needs a number >= " + std::to_string(min) + ", not '" +
             value + "'");
    }
    return n;
}

} // namespace

int main(int argc, char** argv)
{
    using namespace nixery;
    std::map<std::string, std::string> flags{
        {"--redis", "127.0.0.1:6379"},
        {"--concurrency", "1"},
        {"--layer-budget", "94"},
        {"--unknown-ttl", "60"},
        {"--moving-ttl", "3600"},
        {"--heartbeat", "5"},
        {"--max-deliveries", "3"},
        {"--fake-delay-ms", "0"},
        {"--build-timeout",
         std::getenv("NIX_TIMEOUT") ? std::getenv("NIX_TIMEOUT") : "600"},
    };
    const char* known[] = {
        "--redis",         "--storage",        "--concurrency",
        "--nix-dir",       "--popularity",     "--layer-budget",
        "--build-timeout", "--unknown-ttl",    "--moving-ttl",
        "--heartbeat",     "--max-deliveries", "--helper-id",
        "--fake-builder",  "--fake-delay-ms",  "--channel",
        "--pkgs-repo",     "--pkgs-path",      "--gc-roots"};
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::cout << usage;
            return 0;
        }
        std::string value;
        if (auto eq = a.find('='); eq != std::string::npos) {
            value = a.substr(eq + 1);
            a = a.substr(0, eq);
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fail("missing value for " + a);
        }
        bool ok = false;
        for (const char* k : known) {
            ok = ok || a == k;
        }
        if (!ok) {
            fail("unknown option " + a);
        }
        flags[a] = value;
    }
    if (const char* lvl = std::getenv("NIXERY_LOG_LEVEL");
        lvl && std::strcmp(lvl, "debug") == 0) {
        log::set_level(log::Level::debug);
    }
    if (flags["--storage"].empty()) {
        fail("--storage is required");
    }

    // Redis credentials from the environment, not the command line (which
    // every local user can read): NIXERY_REDIS_PASSWORD, and with Redis 6
    // ACLs NIXERY_REDIS_USER.
    if (const char* pass = std::getenv("NIXERY_REDIS_PASSWORD");
        pass && *pass) {
        const char* user = std::getenv("NIXERY_REDIS_USER");
        queue::RedisClient::set_auth(user ? user : "", pass);
    }

    queue::DaemonOptions options;
    options.redis = flags["--redis"];
    options.storage_root = flags["--storage"];
    options.concurrency = static_cast<unsigned>(
        number("--concurrency", flags["--concurrency"], 1));
    options.heartbeat =
        std::chrono::seconds(number("--heartbeat", flags["--heartbeat"], 1));
    options.unknown_ttl = std::chrono::seconds(
        number("--unknown-ttl", flags["--unknown-ttl"], 1));
    options.moving_ttl =
        std::chrono::seconds(number("--moving-ttl", flags["--moving-ttl"], 1));
    options.max_deliveries = static_cast<unsigned>(
        number("--max-deliveries", flags["--max-deliveries"], 1));
    options.helper_id = flags["--helper-id"];

    queue::Builder builder;
    if (!flags["--fake-builder"].empty()) {
        builder = queue::make_fake_builder(
            {flags["--fake-builder"], options.storage_root,
             std::chrono::milliseconds(
                 number("--fake-delay-ms", flags["--fake-delay-ms"], 0))});
        options.pinned = [](const std::string& tag) { return is_commit(tag); };
        log::warn("fake builder in use (test aid): no Nix, made-up images",
                  {{"dir", flags["--fake-builder"]}});
    } else {
        NixBuilderOptions nix;
        try {
            nix.source =
                choose_package_source({flags["--channel"], flags["--pkgs-repo"],
                                       flags["--pkgs-path"]},
                                      source_settings_from_env());
            // Loaded once; an unreadable source is a startup error.
            nix.popularity = load_popularity(flags["--popularity"]);
        } catch (const std::exception& e) {
            fail(e.what());
        }
        nix.nix.nix_dir = flags["--nix-dir"];
        nix.nix.timeout = std::chrono::seconds(
            number("--build-timeout", flags["--build-timeout"], 1));
        nix.nix.gc_roots_dir = flags["--gc-roots"];
        nix.storage_root = options.storage_root;
        nix.layer_budget = static_cast<std::size_t>(
            number("--layer-budget", flags["--layer-budget"], 1));
        PackageSource source = nix.source;
        options.pinned = [source](const std::string& tag) {
            return source.pinned(tag);
        };
        builder = make_nix_builder(std::move(nix));
    }

    // Signals are taken synchronously by the main thread only.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    queue::Daemon daemon(std::move(options), std::move(builder));
    daemon.start();

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
