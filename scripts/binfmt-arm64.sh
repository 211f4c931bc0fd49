#!/bin/bash
# Makes arm64 programs run on this x86_64 machine, in chroots and
# containers too: registers Debian's qemu-aarch64 (qemu-user-static) with
# binfmt_misc, with the F (fix binary) flag, so that the kernel opens the
# emulator once, at registration, and need not find it inside the
# container's root. Run by `make pkgs` (root); idempotent.
#
# Debian 12's qemu-user-static ships the registration in two forms but
# registers nothing by itself on a machine without systemd as PID 1 and
# without binfmt-support: /usr/lib/binfmt.d/qemu-aarch64.conf, read by
# systemd-binfmt at boot (flags OPF), and /usr/share/binfmts/qemu-aarch64,
# imported by binfmt-support's update-binfmts from the package's postinst
# (fix_binary yes), which skips containers. This script writes the former's
# line to /proc/sys/fs/binfmt_misc/register itself, after mounting
# binfmt_misc when it is not (docs/package-set.md).
set -euo pipefail
conf=/usr/lib/binfmt.d/qemu-aarch64.conf
dir=/proc/sys/fs/binfmt_misc
entry=$dir/qemu-aarch64

registered() {
    [ -e "$entry" ] && head -n1 "$entry" | grep -qx enabled &&
        grep -q '^flags:.*F' "$entry"
}

[ -r "$conf" ] || {
    echo "binfmt-arm64.sh: $conf is missing: install qemu-user-static" >&2
    exit 1
}
if [ ! -e "$dir/register" ]; then
    mount -t binfmt_misc binfmt_misc "$dir"
fi
registered && exit 0
# Registered without F, or disabled: register again, as Debian has it.
if [ -e "$entry" ]; then
    echo -1 > "$entry" 2> /dev/null || true
fi
# Another process may register it at the same time: EEXIST is fine then.
grep -v '^#' "$conf" | head -n1 | tr -d '\n' > "$dir/register" 2> /dev/null ||
    true
registered || {
    echo "binfmt-arm64.sh: could not register qemu-aarch64 in $dir" >&2
    exit 1
}
echo "binfmt-arm64.sh: qemu-aarch64 registered ($(grep '^flags' "$entry"))"
