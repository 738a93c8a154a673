#!/usr/bin/env bash
# test.sh runs every check of authedge, as CI does (.ci/run calls it):
#
#   1. prerequisites: redis-server and a C compiler for the race detector
#      (Debian's packages, installed if missing) and the reference client's
#      npm packages (npm ci if missing)
#   2. go vet ./...,  gofmt (lists unformatted files)  and  go mod tidy -diff
#      (go.mod and go.sum say exactly what the code imports)
#   3. ./xcaddy.sh   (builds ./caddy unless it is fresh: the one step that
#      may use the network, with the installs of step 1)
#   4. go test -race -count=1 ./...   (unit, integration and end-to-end; the
#      end-to-end tests run the ./caddy of step 3 and fail if it is stale)
#   5. a short fuzz pass: every FuzzXxx target for $FUZZTIME (default 10s)
#
# Every step runs even if an earlier one failed; a summary follows, and the
# exit status is non-zero if anything failed. Starts nothing it does not
# stop: the tests start and stop their own redis-server and caddy processes.
#
#   FUZZTIME=30s ./test.sh     longer fuzzing
#   FUZZTIME=0 ./test.sh       no fuzzing
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

FUZZTIME="${FUZZTIME:-10s}"
TEST_TIMEOUT="${TEST_TIMEOUT:-20m}"
summary=()
failed=0
flakes=""

log() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# record NAME RC SECONDS adds a line to the summary.
record() {
	local status=PASS
	if [[ "$2" -ne 0 ]]; then
		status=FAIL
		failed=1
	fi
	summary+=("$(printf '%-4s %5ss  %s' "$status" "$3" "$1")")
}

# step NAME CMD... runs one check and records it.
step() {
	local name="$1" start=$SECONDS rc=0
	shift
	log "$name"
	"$@" || rc=$?
	record "$name" "$rc" $((SECONDS - start))
	return 0
}

# apt_install PKG...: see scripts/apt-install.sh.
apt_install() { ./scripts/apt-install.sh "$@"; }

need_redis() {
	if command -v redis-server >/dev/null 2>&1; then
		redis-server --version
		return 0
	fi
	echo "redis-server is missing: installing Debian's redis-server"
	apt_install redis-server && redis-server --version
}

# need_cc: go test -race needs cgo, and Go turns cgo off when its C
# compiler is missing (as on a fresh Debian with Go from go.dev): every
# test would then fail to build with "-race requires cgo".
need_cc() {
	local cc
	cc="$(go env CC)"
	if command -v "${cc%% *}" >/dev/null 2>&1; then
		echo "C compiler: $(command -v "${cc%% *}")"
		return 0
	fi
	echo "the C compiler $cc is missing (go test -race needs cgo): installing Debian's gcc"
	apt_install gcc libc6-dev && command -v "${cc%% *}"
}

need_refclient() {
	local dir
	if ! command -v npm >/dev/null 2>&1; then
		echo "node/npm are missing: installing Debian's nodejs and npm"
		apt_install nodejs npm || return 1
	fi
	node --version
	# The SDK needs Node 20 (tests/refclient/package.json's engines), and
	# on an older one its tests fail without saying why; Debian 12's own
	# nodejs is 18.
	local major
	major="$(node -p 'process.versions.node.split(".")[0]')"
	if ((major < 20)); then
		echo "the reference client needs Node.js 20 or newer, found $(node --version): install a newer one (nodejs.org, nvm)" >&2
		return 1
	fi
	# npm ci when the packages are missing or older than the lock file.
	# tests/webhookjs holds the Standard Webhooks library that checks our
	# webhook signatures.
	for dir in tests/refclient tests/webhookjs; do
		if [[ ! -e "$dir/node_modules/.package-lock.json" || "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
			(cd "$dir" && npm ci --no-audit --no-fund) || return 1
		else
			echo "$dir/node_modules is up to date"
		fi
	done
}

gofmt_check() {
	local files
	files="$(gofmt -l . | grep -v '/node_modules/')"
	if [[ -n "$files" ]]; then
		echo "gofmt: these files need gofmt -w:"
		echo "$files" | sed 's/^/  /'
		return 1
	fi
	echo "gofmt: clean"
}

# tidy_check fails when go.mod or go.sum differ from what `go mod tidy`
# would write (a direct dependency marked // indirect, a stale checksum),
# and prints the difference.
tidy_check() {
	if ! go mod tidy -diff; then
		echo "go.mod/go.sum are not tidy: run go mod tidy and commit the result"
		return 1
	fi
	echo "go.mod/go.sum: tidy"
}

# fuzz runs every FuzzXxx target of every package for $FUZZTIME each.
fuzz() {
	local pkgs pkg name rc=0 n=0
	# Only packages whose tests declare a fuzz target: listing them all
	# would compile every test binary once more.
	pkgs="$(grep -rl --include='*_test.go' -E '^func Fuzz[A-Z0-9_]' . 2>/dev/null |
		grep -v node_modules | xargs -r -n1 dirname | sort -u)"
	for pkg in $pkgs; do
		local names
		if ! names="$(go test -list '^Fuzz' "$pkg" | grep -E '^Fuzz')"; then
			echo "FAIL listing fuzz targets of $pkg"
			rc=1
			continue
		fi
		for name in $names; do
			n=$((n + 1))
			fuzz_one "$pkg" "$name" || rc=1
		done
	done
	echo "fuzz: $n targets${flakes:+; retried after the Go fuzztime race, go.dev/issue/75804:$flakes}"
	return "$rc"
}

# fuzz_one PKG NAME runs one target. Go 1.26's fuzz coordinator can fail a
# target with a bare "context deadline exceeded" at the end of -fuzztime on a
# busy machine (go.dev/issue/75804, fixed in Go 1.27): no input failed. Such
# a run, and only such a run (no failing input written, no seed failing), is
# retried once; a second one is reported as that flake, not as a failure.
fuzz_one() {
	local pkg="$1" name="$2" out try
	out="$(mktemp)"
	for try in 1 2; do
		echo "--- fuzz $pkg $name ($FUZZTIME)"
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1 | tee "$out"; then
			rm -f "$out"
			return 0
		fi
		if grep -q 'Failing input written to\|failure while testing seed corpus' "$out" ||
			! grep -qx '[[:space:]]*context deadline exceeded' "$out"; then
			echo "FAIL fuzz $pkg $name:"
			grep -E 'Failing input written to|failure while testing seed corpus|^\s+\S+_test\.go:[0-9]+:' "$out" | sed 's/^/    /'
			rm -f "$out"
			return 1
		fi
		echo "fuzz $pkg $name: Go's fuzztime deadline race (go.dev/issue/75804), no failing input"
	done
	flakes+=" $name"
	rm -f "$out"
	return 0
}

step "redis-server present" need_redis
step "C compiler present (for -race)" need_cc
step "reference client (npm ci)" need_refclient
step "go vet ./..." go vet ./...
step "gofmt" gofmt_check
step "go mod tidy -diff" tidy_check
step "./xcaddy.sh (build ./caddy)" ./xcaddy.sh
step "go test -race ./..." go test -race -count=1 -timeout "$TEST_TIMEOUT" ./...
if [[ "$FUZZTIME" != 0 && "$FUZZTIME" != 0s ]]; then
	step "fuzz (${FUZZTIME} per target)" fuzz
fi

log "summary"
printf '%s\n' "${summary[@]}"
if [[ "$failed" -ne 0 ]]; then
	printf '\033[31mFAILED\033[0m\n'
	exit 1
fi
printf '\033[32mALL PASSED\033[0m\n'
