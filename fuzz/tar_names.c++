// Tar entry names from the store: whatever bytes a store path's file names
// and symlink targets hold go into a layer through LayerWriter, as
// add_tree() writes them. Input: entries separated by NUL; each entry's
// first byte picks directory, symlink or file, the rest up to '\n' is the
// file name (a directory entry's d_name: no '/', not "." or ".."), after it
// the link target or contents. Property: the layer, read back with
// libarchive, holds exactly those names, types, targets and contents.
#include "fuzz.h"

#include "digest.h"
#include "image/tarball.h"
#include "storage/storage.h"
#include "storage_layout.h"

#include <archive.h>
#include <archive_entry.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

using namespace nixery;

namespace {

// Objects in memory, the layer's temporary file in a directory of its own.
class MemoryStorage final : public Storage {
  public:
    MemoryStorage()
    {
        char templ[] = "/tmp/nixery-fuzz-tar.XXXXXX";
        require(::mkdtemp(templ) != nullptr);
        tmp_ = templ;
    }
    ~MemoryStorage() override { ::rmdir(tmp_.c_str()); }
    std::string describe() const override { return "memory"; }
    const std::string& local_tmp() const override { return tmp_; }
    void put(std::string_view k, std::string_view b) override
    {
        objects_[std::string(k)] = b;
    }
    void put_file(std::string_view k, const std::string& p) override
    {
        std::ifstream in(p, std::ios::binary);
        std::ostringstream s;
        s << in.rdbuf();
        ::unlink(p.c_str());
        put(k, s.str());
    }
    std::optional<std::string> get(std::string_view k, std::size_t) override
    {
        auto it = objects_.find(std::string(k));
        if (it == objects_.end()) {
            return std::nullopt;
        }
        return it->second;
    }
    std::optional<std::uint64_t> size(std::string_view k) override
    {
        auto o = get(k, 0);
        return o ? std::optional<std::uint64_t>(o->size()) : std::nullopt;
    }
    void list(std::string_view,
              const std::function<void(const StoredObject&)>&) override
    {
    }
    void remove(std::string_view k) override { objects_.erase(std::string(k)); }

  private:
    std::string tmp_;
    std::map<std::string, std::string> objects_;
};

struct Member {
    unsigned type;
    std::string name;
    std::string data; // symlink target or contents
};

std::vector<Member> read_layer(const std::string& blob)
{
    std::vector<Member> out;
    archive* a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    require(archive_read_open_memory(a, blob.data(), blob.size()) ==
            ARCHIVE_OK);
    archive_entry* e;
    int rc;
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        Member m{archive_entry_filetype(e), archive_entry_pathname(e), ""};
        if (m.type == AE_IFLNK) {
            const char* t = archive_entry_symlink(e);
            m.data = t != nullptr ? t : "";
        } else if (m.type == AE_IFREG) {
            char buf[4096];
            la_ssize_t n;
            while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
                m.data.append(buf, static_cast<std::size_t>(n));
            }
        }
        out.push_back(std::move(m));
    }
    require(rc == ARCHIVE_EOF);
    archive_read_free(a);
    return out;
}

} // namespace

NIXERY_FUZZ_TARGET
{
    std::string_view in = fuzz::bytes(data, size);
    std::vector<Member> want;
    std::string dir = "nix/store/00000000000000000000000000000000-fuzz";
    want.push_back({AE_IFDIR, dir, ""});
    for (std::size_t at = 0; at < in.size() && want.size() < 64;) {
        std::size_t nul = in.find('\0', at);
        std::string_view entry = in.substr(at, nul - at);
        at = nul == std::string_view::npos ? in.size() : nul + 1;
        if (entry.empty()) {
            continue;
        }
        unsigned type = entry[0] % 3 == 0   ? AE_IFDIR
                        : entry[0] % 3 == 1 ? AE_IFLNK
                                            : AE_IFREG;
        entry.remove_prefix(1);
        std::size_t nl = entry.find('\n');
        std::string_view file = entry.substr(0, nl);
        std::string_view rest =
            nl == std::string_view::npos ? "" : entry.substr(nl + 1);
        if (file.empty() || file == "." || file == ".." ||
            file.find('/') != std::string_view::npos) {
            continue;
        }
        if (type == AE_IFLNK && rest.empty()) {
            continue; // a symlink has a target
        }
        want.push_back({type, dir + "/" + std::string(file),
                        type == AE_IFDIR ? "" : std::string(rest)});
        if (type == AE_IFDIR) {
            dir = want.back().name;
        }
    }

    MemoryStorage storage;
    BlobInfo info;
    {
        LayerWriter w(storage);
        for (const Member& m : want) {
            if (m.type == AE_IFDIR) {
                w.add_directory(m.name, 0555);
            } else if (m.type == AE_IFLNK) {
                w.add_symlink(m.name, m.data);
            } else {
                w.add_contents(m.name, 0444, m.data);
            }
        }
        info = w.finish();
    }
    auto blob = storage.get(blob_path(info.digest_hex), SIZE_MAX);
    require(blob.has_value() && blob->size() == info.size);
    require(sha256_hex(*blob) == info.digest_hex);
    std::vector<Member> got = read_layer(*blob);
    require(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        // Tar marks a directory's name with a trailing '/'.
        if (want[i].type == AE_IFDIR) {
            want[i].name += '/';
        }
        if (got[i].name != want[i].name) {
            std::fprintf(stderr, "wrote \"%s\", read \"%s\"\n",
                         want[i].name.c_str(), got[i].name.c_str());
        }
        require(got[i].type == want[i].type);
        require(got[i].name == want[i].name);
        require(got[i].data == want[i].data);
    }
    return 0;
}
