# Resolves requested package names against a package set.
#
# Takes (all strings, passed with --argstr; names are data, never code):
#   srcType, srcArgs, system  the package set (see load-pkgs.nix)
#   packages                  JSON array of names, e.g. ["git","perlpackages.json"]
#   explain                   "" (default), or one name: evaluate it without
#                             tryEval so that Nix prints why it fails
#   build                     "" (default), or "1": for nix-build (below)
#
# Writes (nix-instantiate --eval --strict --json), one object per name, in
# the order asked:
#   {"name","status":"found","attrPath","outputPath","drvPath","outputName"}
#   {"name","status":"not_found"}
#   {"name","status":"failed","reason","attrPath"?,"message"?,"candidates"?}
# with reason "throws" (evaluation threw: broken, unfree, insecure, removed
# alias...; run again with explain for Nix's message), "not_derivation",
# "wrong_system" or "ambiguous" (candidates lists the attribute paths).
#
# With build = "1" the same list goes to stderr instead, as one line
# "trace: nixery-resolution <JSON>", and the value is the list of the
# derivations found (each with its chosen output) when every name was
# found, else []: one `nix-build` evaluates, realises and roots the whole
# image, and the helper reads the resolution from that line.
#
# Matching: the exact attribute path first; otherwise, level by level, an
# exact name or else the one name equal ignoring case. A level whose first
# character is a digit gets a leading "_" (nixpkgs' `_1password`), as the
# registry's names cannot start with "_".
{ srcType, srcArgs, system, packages ? "[]", explain ? "", build ? ""
, loadPkgs ? ./load-pkgs.nix }:
let
  pkgs = import loadPkgs { inherit srcType srcArgs system; };

  inherit (builtins) all attrNames concatStringsSep filter foldl' fromJSON
    head isAttrs length match removeAttrs replaceStrings split tail toJSON
    trace tryEval;

  # builtins has no toLower (nixpkgs' lib builds it the same way).
  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P"
            "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p"
            "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  toLower = replaceStrings upper lower;

  normalise = c: if match "[0-9].*" c != null then "_${c}" else c;
  components = name:
    map normalise (filter (s: builtins.isString s) (split "\\." name));

  # Walks one level at a time. Returns { ok, path, value } or an error.
  walk = set: comps: prefix:
    if comps == [ ] then { ok = true; path = prefix; value = set; }
    else
      let
        c = head comps;
        forced = tryEval set;
        isSet = forced.success && isAttrs forced.value;
        names = if isSet then attrNames forced.value else [ ];
        fold = filter (n: toLower n == toLower c) names;
        chosen =
          if isSet && forced.value ? ${c} then [ c ] else fold;
        at = n: prefix ++ [ n ];
      in
        if !forced.success then
          { ok = false; reason = "throws"; path = prefix; }
        else if !isSet then
          { ok = false; reason = "not_found"; }
        else if chosen == [ ] then
          { ok = false; reason = "not_found"; }
        else if length chosen > 1 then
          { ok = false; reason = "ambiguous";
            candidates = map (n: concatStringsSep "." (at n)) chosen; }
        else
          walk forced.value.${head chosen} (tail comps) (at (head chosen));

  # Values are only forced inside tryEval, one level at a time.
  exact = comps:
    let
      r = foldl' (acc: c:
        if !acc.found then acc
        else
          let t = tryEval acc.value; in
          if t.success && isAttrs t.value && t.value ? ${c}
          then { found = true; value = t.value.${c}; }
          else { found = false; }) { found = true; value = pkgs; } comps;
    in if r.found then { ok = true; path = comps; inherit (r) value; }
       else null;

  lookup = name:
    let
      comps = components name;
      e = if comps == [ ] then null else exact comps;
    in
      if comps == [ ] then { ok = false; reason = "not_found"; }
      else if e != null then e
      else walk pkgs comps [ ];

  describe = name:
    let
      l = lookup name;
      attrPath = concatStringsSep "." (l.path or [ ]);
      value = tryEval l.value;
      drv = value.value;
      isDrv = let t = tryEval (isAttrs drv
        && (drv.type or null) == "derivation"); in t.success && t.value;
      paths = tryEval (builtins.deepSeq [ drv.drvPath drv.outPath ]
        { inherit (drv) drvPath outPath; system = drv.system or system;
          outputName = drv.outputName or "out"; });
      failed = extra: { inherit name; status = "failed"; } // extra;
    in
      if !l.ok && l.reason == "not_found" then
        { inherit name; status = "not_found"; }
      else if !l.ok && l.reason == "ambiguous" then
        failed { reason = "ambiguous"; inherit (l) candidates;
                 message = "'${name}' matches "
                   + concatStringsSep ", " l.candidates; }
      else if !l.ok then
        failed { reason = "throws"; inherit attrPath; }
      else if !value.success then
        failed { reason = "throws"; inherit attrPath; }
      else if !isDrv then
        failed { reason = "not_derivation"; inherit attrPath;
                 message = "'${attrPath}' is not a derivation"
                   + (if isAttrs drv then " but a set of packages" else ""); }
      else if !paths.success then
        failed { reason = "throws"; inherit attrPath; }
      else if paths.value.system != system then
        failed { reason = "wrong_system"; inherit attrPath;
                 message = "'${attrPath}' builds for ${paths.value.system}, "
                   + "not ${system}"; }
      else
        { inherit name attrPath; status = "found";
          # Not "outPath": toJSON would print the record as that string.
          outputPath = paths.value.outPath;
          inherit (paths.value) drvPath outputName;
          # For build = "1" only; never printed.
          derivation = drv; };

  # The records as printed: without the derivation value.
  printed = r: removeAttrs r [ "derivation" ];

  # Without tryEval: Nix itself reports what goes wrong, with its message.
  explained =
    let
      l = lookup explain;
      value = foldl' (s: c: s.${c}) pkgs (l.path or [ ]);
      isDrv = isAttrs value && (value.type or null) == "derivation";
    in
      if !(l ? path) then printed (describe explain)
      else if isDrv then builtins.deepSeq [ value.drvPath value.outPath ]
        (printed (describe explain))
      else builtins.seq value (printed (describe explain));

  described = map describe (fromJSON packages);
  resolution = map printed described;
  # toJSON forces every record (and each found path) before the trace is
  # printed: what follows it in stderr is the realisation.
  built = trace ("nixery-resolution " + toJSON resolution)
    (if all (r: r.status == "found") described
     then map (r: r.derivation) described else [ ]);
in
  # The set itself is loaded first, so that a set that cannot load fails
  # even when no name is asked for (the helper's probe).
  builtins.seq pkgs (if explain != "" then [ explained ]
                     else if build == "1" then built
                     else resolution)
