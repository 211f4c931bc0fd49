# The Debian packages the bundled set is made of for a system, for
# fetch-debs.sh: those of every package (top level and the *Packages sets)
# and those of the wrapper's toolchain, each once, sorted. Reads no .deb.
{ system }:
let
  inherit (builtins) attrValues concatMap filter isAttrs sort;
  set = import ./. { inherit system; };
  isDrv = v: isAttrs v && (v.type or null) == "derivation";
  drvs = concatMap (v: if isDrv v then [ v ]
                       else if isAttrs v then filter isDrv (attrValues v)
                       else [ ]) (attrValues set);
  all = concatMap (d: d.debs) drvs
    ++ (import ./platforms.nix).${system}.toolchainDebs or [ ];
  unique = l: builtins.attrNames (builtins.listToAttrs
    (map (n: { name = n; value = null; }) l));
in
  sort builtins.lessThan (unique all)
