#include "nix/store_db.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string_view>

namespace nixery {

namespace {

struct DbClose {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalize {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbClose>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

// The closure of the bound roots, as ids.
std::string closure_cte(std::size_t roots)
{
    std::string in;
    for (std::size_t i = 0; i < roots; ++i) {
        in += i ? ",?" : "?";
    }
    return "WITH RECURSIVE closure(id) AS ("
           "SELECT id FROM ValidPaths WHERE path IN (" +
           in +
           ") UNION SELECT Refs.reference FROM Refs "
           "JOIN closure ON Refs.referrer = closure.id) ";
}

// A store setting naming something else than the local store.
bool names_other_store(std::string_view value)
{
    return !value.empty() && value != "local" && value != "daemon" &&
           value != "auto";
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

// `store = X` in NIX_CONFIG (what the Makefile and operators use to
// configure Nix through the environment).
std::string_view config_store(std::string_view config)
{
    std::string_view found;
    while (!config.empty()) {
        std::size_t nl = config.find('\n');
        std::string_view line = trim(config.substr(0, nl));
        config = nl == std::string_view::npos ? "" : config.substr(nl + 1);
        if (!line.starts_with("store")) {
            continue;
        }
        std::string_view rest = trim(line.substr(5));
        if (rest.starts_with("=")) {
            found = trim(rest.substr(1));
        }
    }
    return found;
}

void set_why(std::string* why, std::string text)
{
    if (why) {
        *why = std::move(text);
    }
}

} // namespace

std::string local_store_db()
{
    const char* remote = std::getenv("NIX_REMOTE");
    if (remote && names_other_store(remote)) {
        return "";
    }
    const char* config = std::getenv("NIX_CONFIG");
    if (config && names_other_store(config_store(config))) {
        return "";
    }
    const char* state = std::getenv("NIX_STATE_DIR");
    std::string dir = state && *state ? state : "/nix/var/nix";
    return dir + "/db/db.sqlite";
}

std::optional<std::vector<StorePath>>
read_closure_db(const std::string& db, const std::vector<std::string>& roots,
                std::string* why)
{
    if (db.empty() || roots.empty()) {
        set_why(why, db.empty() ? "not a local store" : "no roots");
        return std::nullopt;
    }
    std::error_code ec;
    if (!std::filesystem::is_regular_file(db, ec)) {
        set_why(why, "no database at " + db);
        return std::nullopt;
    }
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(
        db.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
    DbPtr handle(raw);
    auto failed = [&](const char* what) {
        set_why(why, std::string(what) + ": " +
                         (handle ? sqlite3_errmsg(handle.get())
                                 : sqlite3_errstr(rc)));
        return std::nullopt;
    };
    if (rc != SQLITE_OK) {
        return failed("open");
    }
    // Nix writes in short transactions; wait for one rather than give up.
    sqlite3_busy_timeout(handle.get(), 2000);
    // Both queries read one snapshot.
    if (sqlite3_exec(handle.get(), "BEGIN", nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
        return failed("begin");
    }
    auto prepare = [&](const std::string& sql) {
        sqlite3_stmt* s = nullptr;
        sqlite3_prepare_v2(handle.get(), sql.c_str(), -1, &s, nullptr);
        StmtPtr stmt(s);
        for (std::size_t i = 0; stmt && i < roots.size(); ++i) {
            sqlite3_bind_text(stmt.get(), static_cast<int>(i + 1),
                              roots[i].data(),
                              static_cast<int>(roots[i].size()), SQLITE_STATIC);
        }
        return stmt;
    };
    const std::string cte = closure_cte(roots.size());
    StmtPtr paths = prepare(
        cte + "SELECT ValidPaths.id, ValidPaths.path, ValidPaths.narSize "
              "FROM closure JOIN ValidPaths ON ValidPaths.id = closure.id");
    if (!paths) {
        return failed("query");
    }
    std::map<sqlite3_int64, StorePath> by_id;
    while ((rc = sqlite3_step(paths.get())) == SQLITE_ROW) {
        if (sqlite3_column_type(paths.get(), 2) != SQLITE_INTEGER ||
            sqlite3_column_int64(paths.get(), 2) < 0) {
            set_why(why, "a path without its NAR size");
            return std::nullopt;
        }
        StorePath p;
        const auto* text =
            reinterpret_cast<const char*>(sqlite3_column_text(paths.get(), 1));
        p.path = text ? text : "";
        p.nar_size =
            static_cast<std::uint64_t>(sqlite3_column_int64(paths.get(), 2));
        by_id.emplace(sqlite3_column_int64(paths.get(), 0), std::move(p));
    }
    if (rc != SQLITE_DONE) {
        return failed("read paths");
    }
    StmtPtr refs = prepare(cte + "SELECT Refs.referrer, Refs.reference FROM "
                                 "closure JOIN Refs ON Refs.referrer = "
                                 "closure.id");
    if (!refs) {
        return failed("query");
    }
    while ((rc = sqlite3_step(refs.get())) == SQLITE_ROW) {
        auto from = by_id.find(sqlite3_column_int64(refs.get(), 0));
        auto to = by_id.find(sqlite3_column_int64(refs.get(), 1));
        if (from == by_id.end() || to == by_id.end()) {
            set_why(why, "a reference outside the closure");
            return std::nullopt;
        }
        from->second.references.push_back(to->second.path);
    }
    if (rc != SQLITE_DONE) {
        return failed("read references");
    }
    sqlite3_exec(handle.get(), "COMMIT", nullptr, nullptr, nullptr);

    std::vector<StorePath> out;
    out.reserve(by_id.size());
    for (auto& [id, p] : by_id) {
        std::sort(p.references.begin(), p.references.end());
        out.push_back(std::move(p));
    }
    std::sort(out.begin(), out.end(),
              [](auto& a, auto& b) { return a.path < b.path; });
    std::set<std::string_view> valid;
    for (const StorePath& p : out) {
        valid.insert(p.path);
    }
    for (const std::string& root : roots) {
        if (!valid.contains(root)) {
            set_why(why, root + " is not valid");
            return std::nullopt;
        }
    }
    return out;
}

} // namespace nixery
