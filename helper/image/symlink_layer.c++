#include "image/symlink_layer.h"
#include "base/closure.h"

#include "base/log.h"
#include "image/popularity.h"

#include <algorithm>
#include <dirent.h>
#include <map>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace nixery {

namespace {

constexpr std::string_view store_dir = "/nix/store/";

struct Node {
    bool directory = false; // a real directory in the layer
    bool file = false;      // a regular file the helper writes
    unsigned mode = 0755;
    // For symlinks: the target (a store path in the image) and where that
    // target is on disk, when it is a directory that may need unfolding.
    // For files: their content.
    std::string target;
    std::string disk_dir;
    std::map<std::string, Node> children;

    bool links_directory() const { return !directory && !disk_dir.empty(); }
    bool link() const { return !directory && !file; }
};

class Builder {
  public:
    explicit Builder(const std::string& prefix) : prefix_(prefix)
    {
        root_.directory = true;
    }

    // Merge the contents of a store directory into the tree root.
    void add_root(const std::string& store_path)
    {
        std::string disk = prefix_ + store_path;
        struct stat st;
        if (::stat(disk.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
            log::warn("symlink layer: requested output is not a directory, "
                      "not linked",
                      {{"path", store_path}});
            return;
        }
        merge_children(root_, "", store_path, disk);
    }

    // Make `path` ("usr/bin") a real directory, unfolding symlinked ones.
    Node& ensure_directory(const std::string& path, unsigned mode = 0755)
    {
        Node* n = &root_;
        std::string done;
        std::size_t start = 0;
        while (start < path.size()) {
            std::size_t end = path.find('/', start);
            if (end == path.npos) {
                end = path.size();
            }
            std::string part = path.substr(start, end - start);
            done += (done.empty() ? "" : "/") + part;
            auto [it, fresh] = n->children.try_emplace(part);
            Node& c = it->second;
            if (fresh) {
                c.directory = true;
                c.mode = mode;
            } else if (c.links_directory()) {
                unfold(c);
            } else if (!c.directory) {
                log::warn("symlink layer: replacing a file by a directory",
                          {{"entry", done},
                           {"target", c.file ? "(file)" : c.target}});
                c = Node{};
                c.directory = true;
                c.mode = mode;
            }
            n = &c;
            start = end + 1;
        }
        return *n;
    }

    void add_link(const std::string& dir, const std::string& name,
                  const std::string& target, bool replace)
    {
        Node& d = ensure_directory(dir);
        auto it = d.children.find(name);
        if (it != d.children.end()) {
            if (!replace) {
                return;
            }
            log::info("symlink layer: replacing an entry",
                      {{"entry", dir + "/" + name}, {"target", target}});
        }
        Node link;
        link.target = target;
        d.children[name] = std::move(link);
    }

    // A regular file, unless the outputs already have `dir/name`.
    void add_file(const std::string& dir, const std::string& name,
                  std::string content, unsigned mode)
    {
        Node& d = ensure_directory(dir);
        if (d.children.contains(name)) {
            return;
        }
        Node f;
        f.file = true;
        f.mode = mode;
        f.target = std::move(content);
        d.children.emplace(name, std::move(f));
    }

    // Whether the tree has `path` (as a directory, file or link).
    bool has(const std::string& path) const
    {
        const Node* n = &root_;
        std::size_t start = 0;
        while (start <= path.size()) {
            std::size_t end = std::min(path.find('/', start), path.size());
            if (n->links_directory()) {
                struct stat st;
                return ::lstat((n->disk_dir + "/" + path.substr(start)).c_str(),
                               &st) == 0;
            }
            auto it = n->children.find(path.substr(start, end - start));
            if (it == n->children.end()) {
                return false;
            }
            n = &it->second;
            start = end + 1;
        }
        return true;
    }

    std::vector<TreeEntry> entries() const
    {
        std::vector<TreeEntry> out;
        out.push_back({".", TreeEntry::Kind::directory, 0755, {}});
        emit(root_, "", out);
        return out;
    }

  private:
    // A node for the entry at `logical` (its path in the image's store),
    // read at `disk`.
    Node link_node(const std::string& logical, const std::string& disk) const
    {
        Node n;
        n.target = logical;
        struct stat st;
        if (::lstat(disk.c_str(), &st) != 0) {
            return n;
        }
        if (S_ISDIR(st.st_mode)) {
            n.disk_dir = disk;
        } else if (S_ISLNK(st.st_mode)) {
            // A link to a directory is merged like one; links leaving the
            // store are never followed on this host.
            std::string to(static_cast<std::size_t>(st.st_size) + 1, '\0');
            ssize_t len = ::readlink(disk.c_str(), to.data(), to.size());
            if (len <= 0) {
                return n;
            }
            to.resize(static_cast<std::size_t>(len));
            std::string resolved;
            if (to.starts_with(store_dir)) {
                resolved = prefix_ + to;
            } else if (to[0] != '/') {
                resolved = disk.substr(0, disk.find_last_of('/') + 1) + to;
            }
            struct stat t;
            if (!resolved.empty() && ::stat(resolved.c_str(), &t) == 0 &&
                S_ISDIR(t.st_mode)) {
                n.disk_dir = resolved;
            }
        }
        return n;
    }

    static std::vector<std::string> list_directory(const std::string& disk)
    {
        std::vector<std::string> names;
        DIR* d = ::opendir(disk.c_str());
        if (d == nullptr) {
            throw std::runtime_error("symlink layer: cannot read " + disk);
        }
        while (dirent* e = ::readdir(d)) {
            std::string_view n = e->d_name;
            if (n != "." && n != "..") {
                names.emplace_back(n);
            }
        }
        ::closedir(d);
        std::sort(names.begin(), names.end());
        return names;
    }

    // Turn a symlink to a directory into a directory of symlinks.
    void unfold(Node& n)
    {
        std::string target = n.target;
        std::string disk = n.disk_dir;
        n = Node{};
        n.directory = true;
        for (const std::string& c : list_directory(disk)) {
            n.children.emplace(c, link_node(target + "/" + c, disk + "/" + c));
        }
    }

    void merge_children(Node& dst, const std::string& where,
                        const std::string& logical, const std::string& disk)
    {
        for (const std::string& c : list_directory(disk)) {
            std::string entry = where.empty() ? c : where + "/" + c;
            Node src = link_node(logical + "/" + c, disk + "/" + c);
            auto it = dst.children.find(c);
            if (it == dst.children.end()) {
                dst.children.emplace(c, std::move(src));
                continue;
            }
            Node& have = it->second;
            if ((have.directory || have.links_directory()) &&
                src.links_directory()) {
                if (have.links_directory()) {
                    unfold(have);
                }
                merge_children(have, entry, src.target, src.disk_dir);
                continue;
            }
            log::warn("symlink layer: conflict, keeping the first output's "
                      "entry",
                      {{"entry", entry},
                       {"kept", have.directory ? std::string("(directory)")
                                               : have.target},
                       {"dropped", src.target}});
        }
    }

    static void emit(const Node& dir, const std::string& name,
                     std::vector<TreeEntry>& out)
    {
        for (const auto& [c, n] : dir.children) {
            std::string member = name.empty() ? c : name + "/" + c;
            if (n.directory) {
                out.push_back({member, TreeEntry::Kind::directory, n.mode, {}});
                emit(n, member, out);
            } else if (n.file) {
                out.push_back(
                    {member, TreeEntry::Kind::file, n.mode, n.target});
            } else {
                out.push_back(
                    {member, TreeEntry::Kind::symlink, 0777, n.target});
            }
        }
    }

    const std::string& prefix_;
    Node root_;
};

bool exists(const std::string& disk)
{
    struct stat st;
    return ::lstat(disk.c_str(), &st) == 0;
}

// The first closure path (in path order) named <name>-<version> whose
// `file` exists.
std::string find_package(const Closure& closure, const std::string& prefix,
                         std::string_view name, const std::string& file)
{
    for (const StorePath& p : closure.paths) {
        std::string_view n = store_path_name(p.path);
        if (n.starts_with(name) && n.size() > name.size() &&
            n[name.size()] == '-' && exists(prefix + p.path + file)) {
            return p.path;
        }
    }
    return {};
}

} // namespace

std::vector<TreeEntry> symlink_layer_entries(const Closure& closure,
                                             const std::string& store_prefix)
{
    Builder b(store_prefix);
    std::vector<std::string> roots = closure.roots;
    std::sort(roots.begin(), roots.end());
    for (const std::string& r : roots) {
        b.add_root(r);
    }
    Node& tmp = b.ensure_directory("tmp");
    tmp.mode = 01777;
    std::string coreutils =
        find_package(closure, store_prefix, "coreutils", "/bin/env");
    if (!coreutils.empty()) {
        b.add_link("usr/bin", "env", coreutils + "/bin/env", true);
    }
    const std::string bundle = "/etc/ssl/certs/ca-bundle.crt";
    std::string cacert =
        find_package(closure, store_prefix, "nss-cacert", bundle);
    if (!cacert.empty()) {
        b.add_link("etc/ssl/certs", "ca-bundle.crt", cacert + bundle, false);
        b.add_link("etc/ssl/certs", "ca-certificates.crt", cacert + bundle,
                   false);
    }
    std::string bash = find_package(closure, store_prefix, "bash", "/bin/bash");
    if (!bash.empty() && !b.has("bin/sh")) {
        b.add_link("bin", "sh", bash + "/bin/bash", false);
    }
    // Accounts and name service: what id, whoami, ssh and friends look up.
    b.add_file("etc", "passwd",
               "root:x:0:0:System administrator:/root:/bin/sh\n"
               "nobody:x:65534:65534:Unprivileged account:/var/empty:"
               "/bin/false\n",
               0644);
    b.add_file("etc", "group", "root:x:0:\nnogroup:x:65534:\n", 0644);
    b.add_file("etc", "nsswitch.conf",
               "passwd:    files\n"
               "group:     files\n"
               "shadow:    files\n"
               "hosts:     files dns\n"
               "networks:  files\n"
               "protocols: files\n"
               "services:  files\n",
               0644);
    if (!b.has("root")) {
        b.ensure_directory("root", 0700);
    }
    return b.entries();
}

} // namespace nixery
