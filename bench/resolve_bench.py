"""bench/resolve.sh: nixery-resolve against one Nix call, same run."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.getcwd()
BUILD = os.environ.get("NIXERY_BUILD", os.path.join(ROOT, "build"))
RESOLVE = os.path.join(BUILD, "cmake/helper/nixery-resolve")
BEFORE = os.environ.get("BENCH_BEFORE", "")
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
PKGS = os.path.join(ROOT, "nix/pkgs")
IMAGES = ["hello", "shell/hello", "shell/git/python3"]
os.environ.setdefault(
    "NIX_CONFIG", "sandbox = false\nbuild-users-group =\nsubstituters =\n")


def timed(argv):
    start = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(argv), r.stderr.decode()[-2000:]))
    return took, r.stdout


def resolve_argv(binary, image, roots):
    return [binary, "--pkgs-path", PKGS, "--nix-dir", "nix",
            "--gc-roots", roots, image]


def main():
    if not os.access(RESOLVE, os.X_OK):
        sys.exit("no %s: run make all" % RESOLVE)
    roots = tempfile.mkdtemp(prefix="nixery-bench-roots-")
    try:
        run(roots)
    finally:
        shutil.rmtree(roots, ignore_errors=True)


def run(roots):
    print("== resolve benchmark (%d cores, load %.1f, %d rounds, medians)"
          % (os.cpu_count(), os.getloadavg()[0], RUNS))
    rows = []
    for image in IMAGES:
        # Warm-up (and the attributes for the baselines).
        _, out = timed(resolve_argv(RESOLVE, image, roots))
        doc = json.loads(out)
        attrs = doc["closure"]["attributes"]
        paths = len(doc["closure"]["paths"])
        nix_build = ["nix-build", PKGS, "--no-out-link"]
        # One evaluation printing every output path: a list expression.
        expr = "let p = import %s { system = \"x86_64-linux\"; }; in [ %s ]" \
            % (PKGS, " ".join("p.%s.outPath" % a for a in attrs))
        nix_eval = ["nix-instantiate", "--eval", "--strict", "-E", expr]
        for a in attrs:
            nix_build += ["-A", a]
        contenders = {"nixery-resolve": resolve_argv(RESOLVE, image, roots),
                      "nix-build": nix_build,
                      "nix-instantiate --eval": nix_eval}
        if BEFORE:
            contenders["before"] = resolve_argv(BEFORE, image, roots)
        times = {k: [] for k in contenders}
        split = {"totalMs": [], "evaluateMs": [], "realiseMs": [],
                 "closureMs": []}
        calls = set()
        for _ in range(RUNS):
            for name, argv in contenders.items():
                took, out = timed(argv)
                times[name].append(took)
                if name == "nixery-resolve":
                    t = json.loads(out)["timings"]
                    for k in split:
                        split[k].append(t[k])
                    calls.add((t["nixCalls"], t["closureFrom"]))
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append((image, paths, med, {k: statistics.median(v)
                                         for k, v in split.items()}, calls))
    for image, paths, med, split, calls in rows:
        print("%-18s %3d paths: nixery-resolve %.3f s, of which "
              "resolve_image() %.3f s (evaluate %.0f ms, realise %.0f ms, "
              "closure %.1f ms; Nix calls %s)"
              % (image, paths, med["nixery-resolve"],
                 split["totalMs"] / 1000, split["evaluateMs"],
                 split["realiseMs"], split["closureMs"],
                 ", ".join("%d, closure from %s" % c for c in sorted(calls))))
        line = "%-28s nix-build %.3f s, nix-instantiate --eval %.3f s" % (
            "", med["nix-build"], med["nix-instantiate --eval"])
        if "before" in med:
            line += ", before %.3f s" % med["before"]
        print(line)
        line = "%-28s ratio to nix-build %.2fx (resolve_image() %.2fx)" % (
            "", med["nixery-resolve"] / med["nix-build"],
            split["totalMs"] / 1000 / med["nix-build"])
        if "before" in med:
            line += ", before's %.2fx, speed-up %.2fx" % (
                med["before"] / med["nix-build"],
                med["before"] / med["nixery-resolve"])
        print(line)


main()
