#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages emberprof needs, only those that are missing.
#   install-deps.sh build   what `make` needs
#   install-deps.sh test    that plus what `make test` and `make bench` need
set -eu

build_pkgs="make gcc clang llvm pkg-config bpftool libbpf-dev libelf-dev libdw-dev
zlib1g-dev libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev libcap-dev
libiberty-dev libssl-dev libncurses-dev systemtap-sdt-dev"
test_pkgs="libcmocka-dev llvm protobuf-compiler golang-go golang-github-google-pprof-dev
linux-perf bpftrace python3 python3.11 python3-yaml util-linux gzip time clang-format libclang-rt-14-dev
chromium tmux elfutils lld xz-utils binutils"

case "${1:-build}" in
build) want=$build_pkgs ;;
test) want="$build_pkgs $test_pkgs" ;;
*)
	echo "usage: $0 build|test" >&2
	exit 2
	;;
esac

# Node.js may come from elsewhere (NodeSource ships npm inside its nodejs):
# only ask Debian for it when there is no node at all.
if [ "${1:-build}" = test ] && ! command -v node >/dev/null 2>&1; then
	want="$want nodejs npm"
fi
# Likewise rustc (the Rust workload's compiler): rustup's, on PATH, is newer
# than Debian's; Debian's is only for a machine with none. lld, above, links
# the workload with either.
if [ "${1:-build}" = test ] && ! command -v "${RUSTC:-rustc}" >/dev/null 2>&1; then
	want="$want rustc"
fi

# browser_deps: the browser tests' one npm package (playwright-core, pinned
# by tests/browser/package-lock.json), installed here so that no test needs
# the registry. Needs node and npm, so it runs after the packages.
browser_deps()
{
	dir=$(cd "$(dirname "$0")/../tests/browser" && pwd)
	[ -d "$dir/node_modules/playwright-core" ] && return 0
	echo "installing: tests/browser/node_modules (npm ci)"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || {
		echo "emberprof: npm ci in tests/browser failed (the npm registry must be reachable)" >&2
		exit 1
	}
}

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	[ "${1:-build}" = test ] && browser_deps
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "emberprof: missing packages:$missing (run as root, or: apt-get install$missing)" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -qq --no-install-recommends $missing >/dev/null
[ "${1:-build}" = test ] && browser_deps
exit 0
