#!/bin/sh
# Install lxpy on a Debian or Ubuntu machine, as root:
#   contrib/install.sh              apt packages, a venv in /opt/lxpy, /usr/local/bin/lxpy,
#                                   the man pages and the bash, zsh and fish completion
#   contrib/install.sh --demo       the same, then create and start a busybox container "demo"
#   contrib/install.sh --deps-only [PKG...]  only the apt packages, and PKG too (contrib/test.sh
#                                   adds what only the tests use)
#   contrib/install.sh --files-only only the man pages and completion scripts; under $DESTDIR
#                                   when set (a staging root: packaging, the tests)
set -eu

PREFIX=${LXPY_PREFIX:-/opt/lxpy}
here=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-}

# What lxpy runs on the host: busybox-static for the busybox template, a venv-capable
# Python 3.11+, tmux for the TUI's end-to-end test.
# mmdebstrap (debootstrap as the fallback) and the archive keyring: the debian template.
# dnsmasq-base, nftables, iproute2: networks (DHCP and DNS, NAT, and the tests' `ip`).
# libseccomp2: every container's seccomp filter.
# man-db (and groff with it): `man lxpy`, and the tests that render every page; bash-completion
# loads the completion of `lxpy` when bash is interactive.
PACKAGES="python3 python3-venv busybox-static tmux mmdebstrap debootstrap debian-archive-keyring
dnsmasq-base nftables iproute2 tar zstd man-db bash-completion libseccomp2 btrfs-progs"

# The man pages and the shell completion scripts (made from lxpy's command table, see
# lxpy/cli/manpages.py and lxpy/cli/completion.py), where man and each shell look for them.
install_files() {
    dest=${DESTDIR:-}
    install -D -m 644 -t "$dest/usr/local/share/man/man1" "$here"/man/*.1
    install -D -m 644 -t "$dest/usr/local/share/man/man7" "$here"/man/*.7
    install -D -m 644 "$here/contrib/completion/lxpy.bash" \
        "$dest/usr/share/bash-completion/completions/lxpy"
    install -D -m 644 "$here/contrib/completion/_lxpy" \
        "$dest/usr/local/share/zsh/site-functions/_lxpy"
    install -D -m 644 "$here/contrib/completion/lxpy.fish" \
        "$dest/usr/share/fish/vendor_completions.d/lxpy.fish"
    # whatis and apropos read mandb's index; man itself finds the pages without it.
    if [ -z "$dest" ] && command -v mandb >/dev/null; then
        mandb -q /usr/local/share/man || true
    fi
}

if [ "$mode" = "--files-only" ]; then
    install_files
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run it as root (sudo $0 $*)" >&2
    exit 1
fi

[ "$mode" = "--deps-only" ] && shift && PACKAGES="$PACKAGES $*"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "install.sh: installing$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# Host ids for unprivileged containers: 65536 each, from root's range (as Incus expects it).
for f in /etc/subuid /etc/subgid; do
    if ! grep -qs '^root:' "$f"; then
        echo "root:1000000:1000000000" >>"$f"
        echo "install.sh: gave root the ids 1000000-1999999999 in $f (unprivileged containers)"
    fi
done
[ "$mode" = "--deps-only" ] && exit 0

# Debian's own interpreter, not whatever `python3` is first on PATH: lxpy's start-up time
# and monitor memory are measured against it.
/usr/bin/python3 -m venv "$PREFIX"
"$PREFIX/bin/pip" install -q --upgrade pip
"$PREFIX/bin/pip" install -q "$here"
# lxpy needs no setuptools at run time, and its distutils-precedence.pth costs every lxpy
# command ~0.7 ms of start-up (site imports _distutils_hack).
"$PREFIX/bin/pip" uninstall -q -y setuptools
ln -sf "$PREFIX/bin/lxpy" /usr/local/bin/lxpy
install_files
echo "install.sh: $(lxpy --version) installed in $PREFIX, linked from /usr/local/bin/lxpy;" \
    "try \`man lxpy\`"

if [ "$mode" = "--demo" ]; then
    lxpy info demo >/dev/null 2>&1 || lxpy create demo --template busybox >/dev/null
    [ "$(lxpy info demo --format json | grep -c '"RUNNING"')" = 1 ] || lxpy start demo
    lxpy ls
    echo "install.sh: try \`lxpy attach demo\` (a shell inside) or \`lxpy console demo\` (Ctrl-a q leaves)"
fi
