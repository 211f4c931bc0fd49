#!/usr/bin/env python3
"""Make a fake Nix store for the assembly benchmark, from host files.

    make_store.py PREFIX CLOSURE_JSON TOTAL_MB [--one-big N]

Copies regular files from /usr/lib/x86_64-linux-gnu, /usr/share and
/usr/bin (sorted, so the tree is the same on every run) into store paths of
about 25 MB each under PREFIX/nix/store, until TOTAL_MB are copied, and
writes the closure JSON nixery-assemble reads: every path is a root, and
each path references the next one, so the layering has work to do.

With --one-big N: a single store path holding N hard links to one 50 MB
file (a layer of N x 50 MB without using the disk), to measure the
helper's memory while it writes one big layer.

With --many N: one package whose closure is N small store paths (a chain:
each references the next, the first is the only root), for the layering
and assembly of a very large closure (t/620).

With --sparse GB: a single store path holding one sparse file of GB GiB
(zeros: no disk used to read, little to write), for a store path of
several GB (bench/flood_large.sh).
"""
import json
import os
import shutil
import sys

CHUNK = 25 << 20
SOURCES = ["/usr/lib/x86_64-linux-gnu", "/usr/share", "/usr/bin"]


def host_files():
    for top in SOURCES:
        for root, dirs, files in os.walk(top):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(root, f)
                if os.path.isfile(p) and not os.path.islink(p):
                    yield top, p


def store_path(i, name):
    return "/nix/store/%032d-%s" % (i, name)


def main():
    prefix, out, total_mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
    paths = []
    roots = None
    if len(sys.argv) > 4 and sys.argv[4] == "--many":
        n = int(sys.argv[5])
        for i in range(n):
            sp = store_path(i, "dep%d-1.0" % i)
            os.makedirs(prefix + sp + "/share")
            data = ("store path %d\n" % i).encode()
            with open(prefix + sp + "/share/dep%d" % i, "wb") as f:
                f.write(data)
            paths.append({"path": sp, "narSize": len(data) + 400,
                          "references": []})
        for a, b in zip(paths, paths[1:]):
            a["references"].append(b["path"])
        roots = [paths[0]["path"]]
    elif len(sys.argv) > 4 and sys.argv[4] == "--sparse":
        size = int(sys.argv[5]) << 30
        sp = store_path(0, "sparse-1.0")
        os.makedirs(prefix + sp + "/data")
        with open(prefix + sp + "/data/zeros", "wb") as f:
            f.truncate(size)
        paths.append({"path": sp, "narSize": size, "references": []})
    elif len(sys.argv) > 4 and sys.argv[4] == "--one-big":
        n = int(sys.argv[5])
        sp = store_path(0, "big-1.0")
        d = prefix + sp
        os.makedirs(d + "/data")
        with open(d + "/data/blob", "wb") as f:
            size = 0
            for _, p in host_files():
                with open(p, "rb") as src:
                    data = src.read((50 << 20) - size)
                f.write(data)
                size += len(data)
                if size >= 50 << 20:
                    break
        for k in range(1, n):
            os.link(d + "/data/blob", d + "/data/blob-%03d" % k)
        paths.append({"path": sp, "narSize": size * n, "references": []})
    else:
        budget = total_mb << 20
        copied = 0
        i = 0
        current = 0
        for top, p in host_files():
            if copied >= budget:
                break
            if current == 0 or current >= CHUNK:
                i += 1
                current = 0
                paths.append({"path": store_path(i, "pkg%d-1.0" % i),
                              "narSize": 0, "references": []})
            sp = paths[-1]["path"]
            dst = prefix + sp + "/" + os.path.relpath(p, "/")
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            try:
                shutil.copyfile(p, dst)
            except OSError:
                continue
            size = os.path.getsize(dst)
            paths[-1]["narSize"] += size
            current += size
            copied += size
        for a, b in zip(paths, paths[1:]):
            a["references"].append(b["path"])
    with open(out, "w") as f:
        if roots is None:
            roots = [p["path"] for p in paths]
        json.dump({"paths": paths, "roots": roots}, f)


main()
