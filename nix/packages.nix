# Lists the packages of a package set, for nixery-popcount.
#
# Takes (strings, --argstr): srcType, srcArgs, system, as resolve.nix.
# Writes (nix-instantiate --eval --strict --json) a list of
#   {"attrPath","drvPath","outputPath"}
# for every derivation at the top level and one level down in the sets
# that hold packages (recurseForDerivations, or a name ending in
# "Packages"), skipping whatever fails to evaluate (tryEval).
{ srcType, srcArgs, system, loadPkgs ? ./load-pkgs.nix }:
let
  pkgs = import loadPkgs { inherit srcType srcArgs system; };
  inherit (builtins) attrNames concatLists concatMap isAttrs match tryEval;

  isDrv = v: isAttrs v && (v.type or null) == "derivation";
  entry = path: v:
    let t = tryEval (builtins.deepSeq [ v.drvPath v.outPath ]
      { attrPath = path; inherit (v) drvPath; outputPath = v.outPath; });
    in if t.success then [ t.value ] else [ ];
  isPackageSet = name: v:
    (v.recurseForDerivations or false) || match ".*Packages" name != null;

  level = prefix: set: deep:
    concatMap (name:
      let
        t = tryEval set.${name};
        v = t.value;
        path = if prefix == "" then name else "${prefix}.${name}";
        ok = t.success && isAttrs v;
      in
        if !ok then [ ]
        else if isDrv v then entry path v
        else if deep && (let s = tryEval (isPackageSet name v);
                         in s.success && s.value)
        then level path v false
        else [ ]) (attrNames set);
in
  level "" pkgs true
