# The systems the bundled package set provides and what building each
# takes (docs/package-set.md). x86_64-linux is the host's own: its packages
# copy the installed Debian packages (builder.sh). aarch64-linux is built
# on an x86_64-linux host from Debian's arm64 .debs, which `make pkgs`
# downloads into debs/arm64 (fetch-debs.sh): they are unpacked and patched
# (builder-deb.sh), and the little arm64 code the build runs (the loader's
# check, busybox's applet list, the C compiler of the wrappers) runs under
# qemu-user.
{
  x86_64-linux = {
    debArch = "amd64";
    triplet = "x86_64-linux-gnu";
    loader = "ld-linux-x86-64.so.2";
  };
  aarch64-linux = {
    debArch = "arm64";
    triplet = "aarch64-linux-gnu";
    loader = "ld-linux-aarch64.so.1";
    emulator = "/usr/bin/qemu-aarch64-static";
    # Debian's arm64 tcc compiles wrapper.c as an arm64 program, running
    # under qemu-user with these packages as its root: no cross-compiler.
    toolchainDebs = [ "tcc" "libc6-dev" "libc6" ];
  };
}
