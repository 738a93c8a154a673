#!/usr/bin/env bash
# xcaddy.sh builds ./caddy at the repository root: Caddy (pinned below) with
# the authedge module from this checkout. It installs xcaddy through the Go
# toolchain when it is missing, and skips the build when ./caddy is newer
# than every Go, Lua and go.mod/go.sum file of the module (FORCE=1 rebuilds).
#
#   ./xcaddy.sh            build if stale, then check the module is listed
#   FORCE=1 ./xcaddy.sh    always rebuild
set -euo pipefail

CADDY_VERSION=v2.11.9
XCADDY_VERSION=v0.4.5
MODULE=github.com/authedge/caddy-authedge

cd "$(dirname "${BASH_SOURCE[0]}")"

# The files the binary is built from. Test files do not change the binary;
# untracked files count (a new .go file not yet committed is still built).
sources() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files --cached --others --exclude-standard -- \
			'*.go' '*.lua' go.mod go.sum ':!:*_test.go'
	else
		find . -path ./tests -prune -o \
			\( -name '*.go' ! -name '*_test.go' -o -name '*.lua' -o -name go.mod -o -name go.sum \) -print
	fi
}

stale() {
	[[ -x ./caddy ]] || return 0
	local f
	while IFS= read -r f; do
		if [[ -e "$f" && "$f" -nt ./caddy ]]; then
			echo "xcaddy.sh: $f changed since ./caddy was built" >&2
			return 0
		fi
	done < <(sources)
	return 1
}

build() {
	# xcaddy's generated main.go imports the module's root package; without
	# one, go looks for another module providing it and the proxy refuses.
	if ! compgen -G './*.go' >/dev/null; then
		echo "xcaddy.sh: the module has no root package for xcaddy to import;" >&2
		echo "  it needs e.g. authedge.go: package authedge; import _ \"$MODULE/caddymodule\"" >&2
		exit 1
	fi
	# Where go install puts it: GOBIN if set, else the first GOPATH's bin.
	local xcaddy
	xcaddy="$(go env GOBIN)"
	xcaddy="${xcaddy:-$(go env GOPATH | cut -d: -f1)/bin}/xcaddy"
	if [[ ! -x "$xcaddy" || "$("$xcaddy" version 2>/dev/null)" != "$XCADDY_VERSION"* ]]; then
		echo "xcaddy.sh: installing xcaddy $XCADDY_VERSION" >&2
		go install "github.com/caddyserver/xcaddy/cmd/xcaddy@$XCADDY_VERSION"
	fi
	# @v0.0.0=. and not just =. : the module is unpublished, and the module
	# proxy refuses to list versions of it, which a bare =. would ask for.
	# Build to a temporary name so a failed build never leaves a broken
	# ./caddy behind, then move it into place in one step.
	tmp="./.caddy.build.$$"
	trap 'rm -f "$tmp"' EXIT
	echo "xcaddy.sh: building ./caddy (Caddy $CADDY_VERSION + $MODULE)" >&2
	"$xcaddy" build "$CADDY_VERSION" --with "$MODULE@v0.0.0=." --output "$tmp"
	mv -f "$tmp" ./caddy
}

# Two callers at once (dev.sh and test.sh, or parallel test binaries) must
# not build over each other: serialise on a lock file next to the binary.
# The lock lives outside the tree so it never shows up in git status.
if command -v flock >/dev/null 2>&1; then
	exec 9>"${TMPDIR:-/tmp}/authedge-xcaddy-$(pwd | cksum | cut -d' ' -f1).lock"
	flock 9
fi

if [[ "${FORCE:-0}" == 1 ]] || stale; then
	build
else
	echo "xcaddy.sh: ./caddy is up to date (FORCE=1 to rebuild)" >&2
fi

# Read the whole list before matching: with pipefail, grep -q leaving at the
# first match can kill ./caddy mid-write (SIGPIPE) and fail a good build.
modules=$(./caddy list-modules)
if ! grep -Eq '^[[:space:]]*http\.handlers\.authedge[[:space:]]*$' <<<"$modules"; then
	echo "xcaddy.sh: ./caddy does not list http.handlers.authedge" >&2
	exit 1
fi
echo "xcaddy.sh: ./caddy $(./caddy version | cut -d' ' -f1) with http.handlers.authedge" >&2
