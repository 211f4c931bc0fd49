# The bundled package set: real programs for images, built offline from
# Debian's packages (docs/package-set.md).
#
# Takes: { system ? builtins.currentSystem, ... } like nixpkgs (other
# arguments are ignored). Returns an attribute set named as in nixpkgs
# (hello, bashInteractive, git, python3Packages.requests, ...). Each package
# is a builtins.derivation whose builder copies the files of some Debian
# packages into its own store path and rewrites ELF interpreters, rpaths,
# shebangs and symlinks to the store paths of its dependencies, so the
# reference graph is real and nothing refers to the host. For x86_64-linux
# the files are those of the host's installed packages (builder.sh); for
# aarch64-linux those of Debian's arm64 .debs that `make pkgs` downloads
# into debs/arm64 (builder-deb.sh). Asking for another system makes each
# package throw an error naming it.
{ system ? builtins.currentSystem, ... }:
let
  platforms = import ./platforms.nix;
  supported = builtins.attrNames platforms;
  platform = platforms.${system};
  inherit (platform) triplet;

  # A change of a Debian package on the host (a point release) changes its
  # md5sums file, hence the derivation: the store never serves a stale copy.
  dpkgStamp = deb:
    let
      info = "/var/lib/dpkg/info/";
      candidates = [ "${info}${deb}.md5sums" "${info}${deb}:amd64.md5sums"
                     "${info}${deb}.list" "${info}${deb}:amd64.list" ];
      found = builtins.filter builtins.pathExists candidates;
    in if found == [ ] then throw "Debian package ${deb} is not installed"
       else builtins.hashFile "sha256" (builtins.head found);

  # A downloaded .deb of the foreign architecture, as a store path: its
  # contents are the derivation's input, so a new Debian version rebuilds.
  # debs/<arch> holds one version of each package (fetch-debs.sh).
  debDir = ./debs + "/${platform.debArch}";
  debFiles = if builtins.pathExists debDir then builtins.readDir debDir
             else { };
  debFile = deb:
    let
      prefix = "${deb}_";
      n = builtins.stringLength prefix;
      found = builtins.filter (f: builtins.substring 0 n f == prefix)
        (builtins.attrNames debFiles);
    in if found == [ ] then
         throw ("Debian package ${deb}:${platform.debArch} is not in "
           + "nix/pkgs/debs/${platform.debArch}: run `make pkgs`")
       else builtins.path {
         path = debDir + "/${builtins.head found}";
         # Debian's file names may hold characters store names may not.
         name = "${deb}-${platform.debArch}.deb";
       };

  # The host's own packages (builder.sh). These attributes are those the
  # set had when it provided x86_64-linux only: its store paths, hence its
  # images' digests, stay the same.
  nativeDrv = { name, debs, deps, exclude, postInstall, glibc }:
    derivation {
      inherit name system debs exclude postInstall;
      builder = "/bin/sh";
      args = [ ./builder.sh ];
      wrapper = ./wrapper.c;
      deps = map toString deps;
      glibc = if glibc == null then "" else glibc;
      stamps = map dpkgStamp debs;
    };

  # Another architecture's .debs (builder-deb.sh). The builder runs on the
  # x86_64-linux host, which is what the derivation's system tells Nix (a
  # Nix without extra-platforms builds it); the package's `system`
  # attribute says what its files run on.
  foreignDrv = { name, debs, deps, exclude, postInstall, glibc }:
    derivation {
      inherit name debs exclude postInstall triplet;
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ ./builder-deb.sh ];
      wrapper = ./wrapper.c;
      deps = map toString deps;
      glibc = if glibc == null then "" else glibc;
      debFiles = map debFile debs;
      toolchain = map debFile platform.toolchainDebs;
      inherit (platform) loader emulator;
    };

  mk = { pname, version, debs, deps ? [ ], exclude ? "", postInstall ? ""
       , glibc ? self.glibc, passthru ? { } }:
    if !(platforms ? ${system}) then
      throw ("the bundled package set provides ${pname} for "
        + builtins.concatStringsSep " and " supported + " only, not ${system}")
    else
      let
        args = { name = "${pname}-${version}";
                 inherit debs deps exclude postInstall glibc; };
        drv = if system == "x86_64-linux" then nativeDrv args
              else foreignDrv args // { inherit system; };
      in drv // passthru // {
        inherit pname version;
        meta = { platforms = [ system ]; };
      };

  # Runs a program of the package being built, for its postInstall: through
  # the emulator when the package is for another architecture.
  run = prog: if platform ? emulator then "${platform.emulator} ${prog}"
              else prog;

  # ncurses programs look for terminfo at Debian's paths otherwise.
  terminfo = prog: ''
    wrap_program ${prog} TERMINFO_DIRS "${self.ncurses}/lib/terminfo:/lib/terminfo:/share/terminfo"
  '';

  self = {
    # --- libraries -------------------------------------------------------
    glibc = mk {
      pname = "glibc"; version = "2.36"; debs = [ "libc6" ]; glibc = null;
    };
    ncurses = mk {
      pname = "ncurses"; version = "6.4";
      debs = [ "libtinfo6" "libncursesw6" "ncurses-base" ];
    };
    acl = mk { pname = "acl"; version = "2.3.1"; debs = [ "libacl1" ]; };
    attr = mk { pname = "attr"; version = "2.5.1"; debs = [ "libattr1" ]; };
    gmp = mk { pname = "gmp"; version = "6.2.1"; debs = [ "libgmp10" ]; };
    pcre2 = mk { pname = "pcre2"; version = "10.42"; debs = [ "libpcre2-8-0" ]; };
    libselinux = mk {
      pname = "libselinux"; version = "3.4"; debs = [ "libselinux1" ];
      deps = [ self.pcre2 ];
    };
    zlib = mk { pname = "zlib"; version = "1.2.13"; debs = [ "zlib1g" ]; };
    expat = mk { pname = "expat"; version = "2.5.0"; debs = [ "libexpat1" ]; };
    bzip2 = mk { pname = "bzip2"; version = "1.0.8"; debs = [ "libbz2-1.0" ]; };
    xz = mk { pname = "xz"; version = "5.4.1"; debs = [ "liblzma5" ]; };
    zstd = mk { pname = "zstd"; version = "1.5.4"; debs = [ "libzstd1" ]; };
    brotli = mk { pname = "brotli"; version = "1.0.9"; debs = [ "libbrotli1" ]; };
    libxcrypt = mk {
      pname = "libxcrypt"; version = "4.4.33"; debs = [ "libcrypt1" ];
    };
    libffi = mk { pname = "libffi"; version = "3.4.4"; debs = [ "libffi8" ]; };
    openssl = mk { pname = "openssl"; version = "3.0"; debs = [ "libssl3" ]; };
    sqlite = mk { pname = "sqlite"; version = "3.40.1"; debs = [ "libsqlite3-0" ]; };
    libuuid = mk { pname = "libuuid"; version = "2.38.1"; debs = [ "libuuid1" ]; };
    db = mk { pname = "db"; version = "5.3"; debs = [ "libdb5.3" ]; };
    gdbm = mk {
      pname = "gdbm"; version = "1.23"; debs = [ "libgdbm6" "libgdbm-compat4" ];
    };
    readline = mk {
      pname = "readline"; version = "8.2"; debs = [ "libreadline8" ];
      deps = [ self.ncurses ];
    };
    keyutils = mk { pname = "keyutils"; version = "1.6.3"; debs = [ "libkeyutils1" ]; };
    libkrb5 = mk {
      pname = "libkrb5"; version = "1.20.1";
      debs = [ "libcom-err2" "libkrb5support0" "libk5crypto3" "libkrb5-3"
               "libgssapi-krb5-2" ];
      deps = [ self.keyutils self.openssl ];
    };
    libtirpc = mk {
      pname = "libtirpc"; version = "1.3.3"; debs = [ "libtirpc3" ];
      deps = [ self.libkrb5 ];
    };
    libnsl = mk {
      pname = "libnsl"; version = "1.3.0"; debs = [ "libnsl2" ];
      deps = [ self.libtirpc ];
    };
    libunistring = mk {
      pname = "libunistring"; version = "1.0"; debs = [ "libunistring2" ];
    };
    libidn2 = mk {
      pname = "libidn2"; version = "2.3.3"; debs = [ "libidn2-0" ];
      deps = [ self.libunistring ];
    };
    libpsl = mk {
      pname = "libpsl"; version = "0.21.2"; debs = [ "libpsl5" ];
      deps = [ self.libidn2 self.libunistring ];
    };
    nettle = mk {
      pname = "nettle"; version = "3.8.1"; debs = [ "libnettle8" "libhogweed6" ];
      deps = [ self.gmp ];
    };
    libtasn1 = mk { pname = "libtasn1"; version = "4.19.0"; debs = [ "libtasn1-6" ]; };
    p11-kit = mk {
      pname = "p11-kit"; version = "0.24.1"; debs = [ "libp11-kit0" ];
      deps = [ self.libffi ];
    };
    gnutls = mk {
      pname = "gnutls"; version = "3.7.9"; debs = [ "libgnutls30" ];
      deps = [ self.gmp self.nettle self.libidn2 self.p11-kit self.libtasn1
               self.libunistring ];
    };
    cyrus_sasl = mk {
      pname = "cyrus-sasl"; version = "2.1.28"; debs = [ "libsasl2-2" ];
    };
    openldap = mk {
      pname = "openldap"; version = "2.5.13"; debs = [ "libldap-2.5-0" ];
      deps = [ self.gnutls self.cyrus_sasl ];
    };
    nghttp2 = mk { pname = "nghttp2"; version = "1.52.0"; debs = [ "libnghttp2-14" ]; };
    libssh2 = mk {
      pname = "libssh2"; version = "1.10.0"; debs = [ "libssh2-1" ];
      deps = [ self.openssl self.zlib ];
    };
    rtmpdump = mk {
      pname = "rtmpdump"; version = "2.4"; debs = [ "librtmp1" ];
      deps = [ self.gmp self.gnutls self.nettle self.zlib ];
    };
    libnl = mk {
      pname = "libnl"; version = "3.7.0"; debs = [ "libnl-3-200" "libnl-genl-3-200" ];
    };
    oniguruma = mk { pname = "oniguruma"; version = "6.9.8"; debs = [ "libonig5" ]; };
    curlDeps = [ self.brotli self.libkrb5 self.libidn2 self.openldap
                 self.libpsl self.rtmpdump self.libssh2 self.zstd self.zlib
                 self.nghttp2 ];
    libcurl = mk {
      pname = "libcurl"; version = "7.88.1"; debs = [ "libcurl4" ];
      deps = self.curlDeps ++ [ self.openssl ];
    };
    libcurl-gnutls = mk {
      pname = "libcurl-gnutls"; version = "7.88.1"; debs = [ "libcurl3-gnutls" ];
      deps = self.curlDeps ++ [ self.gnutls self.nettle ];
    };

    # --- programs --------------------------------------------------------
    hello = mk { pname = "hello"; version = "2.10"; debs = [ "hello" ]; };
    bash = mk {
      pname = "bash"; version = "5.2.15"; debs = [ "bash" ];
      deps = [ self.ncurses ];
      postInstall = "ln -s bash bin/sh";
    };
    # Debian's bash is built with readline; nixpkgs keeps two attributes.
    bashInteractive = mk {
      pname = "bash-interactive"; version = "5.2.15"; debs = [ "bash" ];
      deps = [ self.ncurses ];
      postInstall = "ln -s bash bin/sh";
    };
    coreutils = mk {
      pname = "coreutils"; version = "9.1"; debs = [ "coreutils" ];
      deps = [ self.acl self.attr self.gmp self.libselinux ];
    };
    moreutils = mk {
      pname = "moreutils"; version = "0.67"; debs = [ "moreutils" ];
      # Its perl scripts (ts, vidir, ...) run with the bundled perl.
      deps = [ self.perl ];
    };
    nano = mk {
      pname = "nano"; version = "7.2"; debs = [ "nano" ];
      deps = [ self.ncurses ];
      postInstall = terminfo "bin/nano";
    };
    git = mk {
      pname = "git"; version = "2.39.5"; debs = [ "git" ];
      deps = [ self.zlib self.pcre2 self.expat self.libcurl-gnutls self.perl
               self.bash ];
      # Its helpers and templates are where Debian put them, in $out.
      postInstall = ''
        wrap_program bin/git GIT_EXEC_PATH "$out/lib/git-core" \
          GIT_TEMPLATE_DIR "$out/share/git-core/templates"
      '';
    };
    htop = mk {
      pname = "htop"; version = "3.2.2"; debs = [ "htop" ];
      deps = [ self.ncurses self.libnl ];
      postInstall = terminfo "bin/htop";
    };
    curl = mk {
      pname = "curl"; version = "7.88.1"; debs = [ "curl" ];
      deps = [ self.libcurl self.zlib ];
    };
    jq = mk {
      pname = "jq"; version = "1.6"; debs = [ "jq" "libjq1" ];
      deps = [ self.oniguruma ];
    };
    busybox = mk {
      pname = "busybox"; version = "1.35.0"; debs = [ "busybox-static" ];
      glibc = null;
      # One link per applet, as nixpkgs' busybox has.
      postInstall = ''
        for a in $(${run "bin/busybox"} --list); do
          [ -e "bin/$a" ] || ln -s busybox "bin/$a"
        done
      '';
    };
    cacert = mk {
      pname = "nss-cacert"; version = "20230311"; debs = [ "ca-certificates" ];
      glibc = null;
      exclude = "^(usr/)?sbin/";
      # The bundle Debian generates at install time, under nixpkgs' names.
      postInstall = ''
        mkdir -p etc/ssl/certs
        cat share/ca-certificates/mozilla/*.crt > etc/ssl/certs/ca-bundle.crt
        ln -s ca-bundle.crt etc/ssl/certs/ca-certificates.crt
      '';
    };
    iana-etc = mk {
      pname = "iana-etc"; version = "6.4"; debs = [ "netbase" ]; glibc = null;
    };
    python3 = mk {
      pname = "python3"; version = "3.11.2";
      debs = [ "python3.11-minimal" "libpython3.11-minimal" "python3.11"
               "libpython3.11-stdlib" "python3-minimal" "python3" ];
      deps = [ self.zlib self.expat self.bzip2 self.xz self.libffi
               self.openssl self.sqlite self.libuuid self.db self.readline
               self.ncurses self.libnsl self.libtirpc self.libxcrypt ];
      exclude = "^(usr/)?(bin|share)/(py3|pydoc|pygettext)|^(usr/)?lib/python3.11/(test|idlelib|tkinter|turtledemo|lib2to3/tests)/";
      # Packages installed next to it in an image (whose symlink layer is
      # the root) are importable: /lib/python3/dist-packages is a site dir.
      postInstall = ''
        mkdir -p lib/python3/dist-packages
        printf '%s\n' "import sys, site; '/lib/python3/dist-packages' in sys.path or site.addsitedir('/lib/python3/dist-packages')" \
          > lib/python3/dist-packages/nixery-profile.pth
      '';
    };
    python3Packages = let
      py = pname: version: debs: pdeps: mk {
        inherit pname version debs;
        deps = [ self.python3 ] ++ pdeps;
        # Its Python dependencies, each in its own store path, become site
        # directories through a .pth file (so their own .pth files count,
        # and with them their dependencies).
        postInstall = ''
          mkdir -p lib/python3/dist-packages
          for d in $deps; do
            site=$d/lib/python3/dist-packages
            if [ -d "$site" ] && [ "$d" != "${self.python3}" ]; then
              echo "import sys, site; '$site' in sys.path or site.addsitedir('$site')"
            fi
          done > lib/python3/dist-packages/${pname}-deps.pth
        '';
      };
      p = self.python3Packages;
    in {
      six = py "python3.11-six" "1.16.0" [ "python3-six" ] [ ];
      idna = py "python3.11-idna" "3.3" [ "python3-idna" ] [ ];
      certifi = py "python3.11-certifi" "2022.9.24" [ "python3-certifi" ]
        [ self.cacert ];
      charset-normalizer = py "python3.11-charset-normalizer" "3.0.1"
        [ "python3-charset-normalizer" ] [ ];
      setuptools = py "python3.11-setuptools" "66.1.1"
        [ "python3-pkg-resources" ] [ ];
      chardet = py "python3.11-chardet" "5.1.0" [ "python3-chardet" ]
        [ p.setuptools ];
      urllib3 = py "python3.11-urllib3" "1.26.12" [ "python3-urllib3" ]
        [ p.six ];
      requests = py "python3.11-requests" "2.28.1" [ "python3-requests" ]
        [ p.certifi p.charset-normalizer p.idna p.urllib3 p.chardet ];
    };
    perl = mk {
      pname = "perl"; version = "5.36.0";
      debs = [ "perl-base" "perl" "libperl5.36" "perl-modules-5.36" ];
      deps = [ self.bzip2 self.libxcrypt self.db self.gdbm self.zlib ];
      # Debian's @INC, moved into $out, then the image's own directories
      # (where perlPackages installed next to perl appear).
      postInstall = ''
        inc=
        for d in etc/perl lib/${triplet}/perl5/5.36 share/perl5 \
                 lib/${triplet}/perl-base lib/${triplet}/perl/5.36 \
                 share/perl/5.36; do
          inc="$inc$out/$d:"
        done
        inc="$inc/share/perl5:/lib/${triplet}/perl5/5.36"
        for p in perl perl5.36.0; do
          if [ -e "bin/$p" ] && [ ! -L "bin/$p" ]; then
            wrap_program "bin/$p" PERL5LIB "$inc"
          fi
        done
      '';
    };
    perlPackages = {
      JSON = mk {
        pname = "perl5.36.0-JSON"; version = "4.10"; debs = [ "libjson-perl" ];
        deps = [ self.perl ];
      };
    };
  };
in
  builtins.removeAttrs self [ "curlDeps" ]
