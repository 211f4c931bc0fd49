# Loads a package set for resolve.nix.
#
# Takes: srcType ("nixpkgs" | "git" | "path"), srcArgs (a string: the
# nixpkgs archive ref; a JSON object {"url", "rev"?, "ref"?} for fetchGit;
# an absolute path) and system (e.g. "x86_64-linux"). Returns the package
# set imported with { inherit system; }, like nixpkgs. Writes nothing.
{ srcType, srcArgs, system }:
let
  source =
    if srcType == "nixpkgs" then
      # A channel: a branch or commit of NixOS/nixpkgs on GitHub (needs
      # the network).
      builtins.fetchTarball
        "https://github.com/NixOS/nixpkgs/archive/${srcArgs}.tar.gz"
    else if srcType == "git" then
      let args = builtins.fromJSON srcArgs;
      # A commit need not be on the default branch.
      in builtins.fetchGit (args // (if args ? rev then { allRefs = true; }
                                     else { }))
    else if srcType == "path" then
      /. + srcArgs
    else
      throw "unknown package source type '${srcType}'";
in
  import source { inherit system; }
