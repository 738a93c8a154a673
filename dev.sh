#!/usr/bin/env bash
# dev.sh runs authedge on this machine, in one command:
#
#   - builds ./caddy with ./xcaddy.sh if needed
#   - installs Debian's redis-server if it is missing (refuses one older
#     than 7.0)
#   - starts a throwaway redis-server on a free port (no persistence)
#   - makes a development key pair in .dev/ if there is none
#   - serves Caddyfile.example: authedge on http://127.0.0.1:8080 in front
#     of a stand-in app, verification codes written to the log
#   - prints a token command and curl commands to try it
#
# Ctrl-C stops Caddy and Redis; nothing is left running. DEVELOPMENT ONLY.
#
# Settings (environment): AUTHEDGE_PORT (8080), AUTHEDGE_APP_PORT (8081),
# AUTHEDGE_ADMIN (localhost:2019), AUTHEDGE_ENV (dev-env), AUTHEDGE_ISSUER
# (https://dev.authedge.local), AUTHEDGE_DEV_DIR (.dev: the key pair).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

export AUTHEDGE_PORT="${AUTHEDGE_PORT:-8080}"
export AUTHEDGE_APP_PORT="${AUTHEDGE_APP_PORT:-8081}"
export AUTHEDGE_ADMIN="${AUTHEDGE_ADMIN:-localhost:2019}"
export AUTHEDGE_ENV="${AUTHEDGE_ENV:-dev-env}"
export AUTHEDGE_ISSUER="${AUTHEDGE_ISSUER:-https://dev.authedge.local}"
DEV_DIR="${AUTHEDGE_DEV_DIR:-.dev}"
PRIVATE_KEY="$DEV_DIR/dev-key.pem"
export AUTHEDGE_DEV_KEY="$DEV_DIR/dev-key.pub.pem"

say() { printf 'dev.sh: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

# port_busy PORT: something on 127.0.0.1 accepts connections there.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# redis_ready PORT: Redis there answers PING with PONG (not LOADING).
redis_ready() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'PING\r\n' >&3
		IFS= read -r -t 1 reply <&3 && [[ "$reply" == +PONG* ]]
	) 2>/dev/null
}

# apt_install PKG...: see scripts/apt-install.sh.
apt_install() { ./scripts/apt-install.sh "$@"; }

# ---- prerequisites ----------------------------------------------------------

./xcaddy.sh

if ! command -v redis-server >/dev/null 2>&1; then
	say "redis-server is missing: installing Debian's redis-server"
	apt_install redis-server || die "could not install redis-server"
fi
# authedge needs Redis 7.0 or later (README). An older one (Ubuntu 22.04's
# 6.0, which the install above brings there) would start, and requests
# would then fail.
redis_version="$(redis-server --version 2>/dev/null | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p' || true)"
if [[ "${redis_version%%.*}" =~ ^[0-9]+$ ]] && ((${redis_version%%.*} < 7)); then
	die "redis-server $redis_version is too old: authedge needs Redis 7.0 or later (see README)"
fi

for var in AUTHEDGE_PORT AUTHEDGE_APP_PORT; do
	if port_busy "${!var}"; then
		die "port ${!var} is in use: set $var to a free port"
	fi
done
if port_busy "${AUTHEDGE_ADMIN##*:}"; then
	die "Caddy's admin port ${AUTHEDGE_ADMIN##*:} is in use: set AUTHEDGE_ADMIN, e.g. AUTHEDGE_ADMIN=localhost:2999"
fi

if [[ ! -f "$PRIVATE_KEY" || ! -f "$AUTHEDGE_DEV_KEY" ]]; then
	# ./caddy was just built and checked by xcaddy.sh: its keygen is there.
	./caddy authedge-token keygen --out "$DEV_DIR" >&2 || die "caddy authedge-token keygen failed"
fi

# ---- run ----------------------------------------------------------------------

workdir="$(mktemp -d "${TMPDIR:-/tmp}/authedge-dev.XXXXXX")"
redis_pid="" caddy_pid=""

# stop PID: TERM, then KILL if it is still there after 10 s.
stop() {
	local pid="$1" i
	[[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	trap - EXIT INT TERM
	stop "$caddy_pid"
	stop "$redis_pid"
	rm -rf "$workdir"
	say "stopped Caddy and Redis"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free port for Redis: try random high ports until one starts.
redis_port=""
for ((try = 0; try < 20; try++)); do
	port=$((20000 + RANDOM % 40000))
	port_busy "$port" && continue
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$workdir" --daemonize no --logfile "$workdir/redis.log" &
	redis_pid=$!
	for ((i = 0; i < 100; i++)); do
		kill -0 "$redis_pid" 2>/dev/null || break
		if redis_ready "$port"; then
			redis_port="$port"
			break 2
		fi
		sleep 0.05
	done
	stop "$redis_pid"
	redis_pid=""
done
if [[ -z "$redis_port" ]]; then
	# The log goes with $workdir when we exit: show its end now.
	say "could not start redis-server; the end of its log:"
	tail -n 20 "$workdir/redis.log" 2>/dev/null | sed 's/^/  /' >&2
	exit 1
fi
export AUTHEDGE_REDIS="127.0.0.1:$redis_port"

# Caddy's own state (autosave, certificates) stays in the temp dir.
XDG_CONFIG_HOME="$workdir/config" XDG_DATA_HOME="$workdir/data" \
	./caddy run --config Caddyfile.example --adapter caddyfile &
caddy_pid=$!
for ((i = 0; ; i++)); do
	kill -0 "$caddy_pid" 2>/dev/null || die "caddy exited; see its log above"
	port_busy "$AUTHEDGE_PORT" && break
	((i < 300)) || die "caddy is not serving on port $AUTHEDGE_PORT after 30 s"
	sleep 0.1
done

site="http://127.0.0.1:$AUTHEDGE_PORT"
mint="./caddy authedge-token --key $PRIVATE_KEY"
[[ "$AUTHEDGE_ENV" == dev-env ]] || mint+=" --aud $AUTHEDGE_ENV"
[[ "$AUTHEDGE_ISSUER" == https://dev.authedge.local ]] || mint+=" --iss $AUTHEDGE_ISSUER"
cat >&2 <<EOF

================================================================================
 authedge is running at $site  (DEVELOPMENT ONLY)
   in front of the stand-in app on 127.0.0.1:$AUTHEDGE_APP_PORT
   Redis: $AUTHEDGE_REDIS (temporary, empty)   Ctrl-C stops everything.

 In another shell, in $(pwd):

   TOKEN=\$($mint --sub user-1)

   curl -s $site/auth/v1/user/me -H "Authorization: Bearer \$TOKEN"

   curl -s $site/auth/v1/user/basic/edit -H "Authorization: Bearer \$TOKEN" \\
        -H 'Content-Type: application/json' \\
        -d '{"nickname":"张三","username":"zhangsan","gender":"MALE"}'

   curl -s $site/anything/else      # passes through to the app

 An admin token: $mint --sub admin-1 --scope admin
 Verification codes appear in this log (the log sender; see README).
================================================================================

EOF

# Run until Caddy stops or we are interrupted (the traps clean up).
rc=0
wait "$caddy_pid" || rc=$?
caddy_pid=""
exit "$rc"
