#!/usr/bin/env bash
# scripts/apt-install.sh PKG... installs Debian packages as root or through
# sudo, without letting their maintainer scripts start services (a
# policy-rc.d that says no, unless the system already has one): installing
# redis-server must not leave a daemon running, since our scripts and tests
# start and stop their own.
set -uo pipefail
sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "apt-install.sh: need root or sudo to apt-get install $*" >&2
		exit 1
	fi
	sudo=(sudo)
fi
policy=/usr/sbin/policy-rc.d
added=0
rc=0
if [[ ! -e "$policy" ]]; then
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null &&
		"${sudo[@]}" chmod 755 "$policy" && added=1
fi
"${sudo[@]}" apt-get update -qq &&
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" || rc=$?
if [[ "$added" == 1 ]]; then
	"${sudo[@]}" rm -f "$policy"
fi
exit "$rc"
