#!/usr/bin/env bash
# bench/run.sh: the load harness of issue 4. Not part of CI.
#
# Builds ./caddy (../xcaddy.sh) and the peer (caddy-security, pinned), mints
# tokens (bench/mint), starts its own redis-server and one Caddy per scenario
# on free loopback ports, drives each scenario with wrk (bench/wrk/scenario.lua)
# and writes a table and bench/out/results.json. Every process it starts it
# stops, by PID, on exit. Traffic goes to 127.0.0.1 only.
#
#   bench/run.sh                        everything, default sizes
#   SCENARIOS="1 2" bench/run.sh        some scenarios only
#   MEM=0 bench/run.sh                  skip the memory figures (P4, P5)
#   MEM_N=100000 RSS_N=100000 bench/run.sh   quicker memory figures
#   PROFILE=1 bench/run.sh              also a CPU profile of each Caddy
#                                       scenario (an extra, unmeasured run)
#
# Knobs (environment): RUNS (3) DURATION (10s) WARMUP (3s) THREADS (2)
# CONNS (64) SCENARIOS ("1 2 3 4 5") TOKENS (tokens minted for the
# distinct-token scenarios, 600000) MEM (1) MEM_N (1000000) RSS_N (1000000)
# RSS_ALG (ES256: minting is ~50x faster than RS256; RS256 also works)
# MEM_VALUES (typical: profile value lengths for P4; short: store's test shapes)
# PROFILE (0) PROFILE_SECONDS (10) BUILD (1: ./xcaddy.sh; 0: use ./caddy as is)
# OUT (bench/out: binaries, keys, tokens, configs, logs, results)
# PEER_BIN ($OUT/caddy-security: built once, then reused)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/bench/out}
mkdir -p "$OUT"/{conf,log,keys,prof,home}

RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
SCENARIOS=${SCENARIOS:-1 2 3 4 5}
TOKENS=${TOKENS:-600000}
MEM=${MEM:-1}
MEM_N=${MEM_N:-1000000}
RSS_N=${RSS_N:-1000000}
RSS_ALG=${RSS_ALG:-ES256}
MEM_VALUES=${MEM_VALUES:-typical}
PROFILE=${PROFILE:-0}
PROFILE_SECONDS=${PROFILE_SECONDS:-10}
BUILD=${BUILD:-1}

CADDY_VERSION=v2.11.9
XCADDY_VERSION=v0.4.5
PEER_MODULE=github.com/greenpau/caddy-security
PEER_VERSION=v1.1.64
PEER_BIN=${PEER_BIN:-$OUT/caddy-security}
CADDY_BIN=${CADDY_BIN:-$ROOT/caddy}
ENV_ID=bench-env
ISSUER=https://bench.authedge.test
TOKEN_FILE=$OUT/tokens-rs256.txt
RSS_TOKEN_FILE=$OUT/tokens-rss-$(tr '[:upper:]' '[:lower:]' <<<"$RSS_ALG").txt
CLK_TCK=$(getconf CLK_TCK)

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- processes
# Every PID we start, stopped on exit (and only those).
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() {
	local pid=$1 p keep=()
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# free_port prints a loopback TCP port nobody listens on (nor was handed out
# by this run already).
USED_PORTS=" "
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		[[ $USED_PORTS == *" $p "* ]] && continue
		if [[ -z $(ss -Htln "sport = :$p") ]]; then
			USED_PORTS+="$p "
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# wait_http URL: until anything answers on it (30 s at most).
wait_http() {
	for _ in $(seq 300); do
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.1
	done
	return 1
}

REDIS_PID=
REDIS_PORT=
start_redis() {
	REDIS_PORT=$(free_port)
	local dir=$OUT/redis-$REDIS_PORT
	mkdir -p "$dir"
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$dir" --daemonize no --logfile "$dir/redis.log" &
	REDIS_PID=$!
	PIDS+=("$REDIS_PID")
	for _ in $(seq 100); do
		[[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && return 0
		sleep 0.1
	done
	die "redis-server on $REDIS_PORT did not start (see $dir/redis.log)"
}
stop_redis() {
	[[ -n $REDIS_PID ]] && stop_pid "$REDIS_PID"
	rm -rf "$OUT/redis-$REDIS_PORT"
	REDIS_PID=
}

CADDY_PID=
PORT=
ADMIN_PORT=
# start_caddy BIN CONFIG_NAME: the config was written by write_config.
start_caddy() {
	local bin=$1 name=$2
	XDG_DATA_HOME=$OUT/home XDG_CONFIG_HOME=$OUT/home \
		"$bin" run --adapter caddyfile --config "$OUT/conf/$name.Caddyfile" \
		>"$OUT/log/$name.log" 2>&1 &
	CADDY_PID=$!
	PIDS+=("$CADDY_PID")
	if ! wait_http "http://127.0.0.1:$PORT/"; then
		tail -20 "$OUT/log/$name.log" >&2
		die "caddy ($name) did not start"
	fi
}
stop_caddy() {
	[[ -n $CADDY_PID ]] && stop_pid "$CADDY_PID"
	CADDY_PID=
}

# cpu_ticks PID: utime+stime of the whole process (all threads), in ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# ------------------------------------------------------------------- tools
ensure_tools() {
	local missing=()
	command -v wrk >/dev/null || missing+=(wrk)
	command -v redis-server >/dev/null || missing+=(redis-server)
	command -v jq >/dev/null || missing+=(jq)
	command -v curl >/dev/null || missing+=(curl)
	command -v ss >/dev/null || missing+=(iproute2)
	if ((${#missing[@]})); then
		log "installing ${missing[*]}"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
	XCADDY=$(go env GOPATH)/bin/xcaddy
	if [[ ! -x $XCADDY ]]; then
		log "installing xcaddy $XCADDY_VERSION"
		go install "github.com/caddyserver/xcaddy/cmd/xcaddy@$XCADDY_VERSION"
	fi
}

build() {
	if [[ $BUILD == 1 ]]; then
		if [[ -x ./xcaddy.sh ]]; then
			log "building ./caddy (./xcaddy.sh)"
			./xcaddy.sh
		else
			log "building ./caddy (xcaddy, no xcaddy.sh yet)"
			"$XCADDY" build "$CADDY_VERSION" --with "github.com/authedge/caddy-authedge@v0.0.0=." --output ./caddy
		fi
	fi
	[[ -x $CADDY_BIN ]] || die "no ./caddy"
	# The peer is pinned, so it is built once and kept in bench/out.
	if [[ ! -x $PEER_BIN ]]; then
		log "building the peer: Caddy $CADDY_VERSION + $PEER_MODULE@$PEER_VERSION (slow: minutes)"
		(cd "$OUT" && "$XCADDY" build "$CADDY_VERSION" --with "$PEER_MODULE@$PEER_VERSION" --output "$PEER_BIN.tmp")
		mv -f "$PEER_BIN.tmp" "$PEER_BIN"
	fi
	go build -o "$OUT/mint" ./bench/mint
	go build -o "$OUT/memload" ./bench/memload
}

# mint_tokens FILE N ALG: reuse FILE if it holds N such tokens valid for 2 h more.
mint_tokens() {
	local file=$1 n=$2 alg=$3
	if [[ -f $file.meta.json ]] &&
		jq -e --argjson n "$n" --arg alg "$alg" --argjson now "$(date +%s)" \
			'.n >= $n and .alg == $alg and .exp > $now + 7200 and (.foreign | not)' "$file.meta.json" >/dev/null; then
		return
	fi
	log "minting $n $alg tokens into $file"
	"$OUT/mint" -keys "$OUT/keys" -alg "$alg" -n "$n" -iss "$ISSUER" -aud "$ENV_ID" -out "$file" >/dev/null
}

# ------------------------------------------------------------------ configs
global_options() {
	cat <<EOF
{
	admin 127.0.0.1:$ADMIN_PORT
	default_bind 127.0.0.1
	auto_https off
	persist_config off
	log {
		level WARN
	}
$1
}
EOF
}

authedge_block() {
	cat <<EOF
	authedge {
		environment_id $ENV_ID
		jwt {
			issuer $ISSUER
			jwks_file $OUT/keys/jwks.json
		}
		redis {
			address 127.0.0.1:$REDIS_PORT
		}
		verification {
			required off
		}
		sudo {
			sensitive off
		}
		rate_limit {
			edits 100000000 1m
		}
	}
EOF
}

# write_config NAME KIND: KIND is plain, peer or authedge.
write_config() {
	local name=$1 kind=$2 f=$OUT/conf/$1.Caddyfile
	case $kind in
	plain)
		global_options "" >"$f"
		cat >>"$f" <<EOF

http://127.0.0.1:$PORT {
	respond "hello" 200
}
EOF
		;;
	peer)
		global_options "	order authorize before respond
	security {
		authorization policy benchpolicy {
			crypto key verify from file $OUT/keys/rs256.pub.pem
			allow roles bench/user
			validate bearer header
			set token sources header
			disable auth redirect
		}
	}" >"$f"
		cat >>"$f" <<EOF

http://127.0.0.1:$PORT {
	route {
		authorize with benchpolicy
		respond "hello" 200
	}
}
EOF
		;;
	authedge)
		global_options "" >"$f"
		{
			echo
			echo "http://127.0.0.1:$PORT {"
			authedge_block
			echo '	respond "hello" 200'
			echo "}"
		} >>"$f"
		;;
	esac
}

# ---------------------------------------------------------------- scenarios
# Per scenario: name, Caddy kind, path, wrk mode, whether it uses a distinct
# token per request.
scenario_def() {
	case $1 in
	1) echo "plain-respond plain /hello plain 0" ;;
	2) echo "caddy-security-jwt peer /hello bearer 1" ;;
	3) echo "authedge-edit authedge /auth/v1/user/basic/edit edit 1" ;;
	4) echo "authedge-me authedge /auth/v1/user/me bearer 0" ;;
	5) echo "authedge-passthrough authedge /hello plain 0" ;;
	*) die "unknown scenario $1" ;;
	esac
}

# The token file is shared by the distinct-token scenarios: each wrk run takes
# the next unused range, so no token is sent twice in one harness run (while
# TOKENS lasts: a run that needs more wraps, and says so in "wraps").
TOKEN_CURSOR=0
LINE_LEN=0
next_budget() {
	# Enough for the last run's rate with 50 % headroom; 60 000 to start.
	local last_rps=${1:-0} secs=${DURATION%s}
	local b=$(((${last_rps%.*} * secs * 3 / 2) + 1000))
	((b < 60000)) && b=60000
	echo $b
}

# run_wrk SCENARIO MODE PATH DISTINCT DURATION BUDGET OUTFILE: one wrk run;
# writes its WRKJSON merged with the CPU deltas of Caddy and Redis to OUTFILE.
# (Not called in $(...): it advances TOKEN_CURSOR.)
run_wrk() {
	local sc=$1 mode=$2 path=$3 distinct=$4 dur=$5 budget=$6 outfile=$7
	local start=0 count=1 args=()
	if [[ $mode != plain ]]; then
		if [[ $distinct == 1 ]]; then
			# The last two tokens are kept for the repeated-token scenario and the checks.
			if ((budget > TOKENS - 2)); then
				budget=$((TOKENS - 2))
			fi
			if ((TOKEN_CURSOR + budget > TOKENS - 2)); then
				log "token file exhausted: starting it again (tokens will repeat; raise TOKENS)"
				TOKEN_CURSOR=0
			fi
			start=$TOKEN_CURSOR count=$budget
			TOKEN_CURSOR=$((TOKEN_CURSOR + budget))
		else
			# One repeated token: the last of the file, never handed out as distinct.
			start=$((TOKENS - 1)) count=1
		fi
	fi
	args=("$mode" "$TOKEN_FILE" "$LINE_LEN" "$start" "$count" "$THREADS" "s${sc}r$RANDOM$RANDOM")
	local c0 r0 c1 r1 out
	c0=$(cpu_ticks "$CADDY_PID")
	r0=$(cpu_ticks "$REDIS_PID")
	out=$(wrk -t "$THREADS" -c "$CONNS" -d "$dur" --latency -s bench/wrk/scenario.lua \
		"http://127.0.0.1:$PORT$path" -- "${args[@]}")
	c1=$(cpu_ticks "$CADDY_PID")
	r1=$(cpu_ticks "$REDIS_PID")
	grep '^WRKJSON ' <<<"$out" | sed 's/^WRKJSON //' |
		jq -c --argjson cd $((c1 - c0)) --argjson rd $((r1 - r0)) --argjson tck "$CLK_TCK" \
			--argjson start "$start" --argjson count "$count" '
			. + {tokens: {start: $start, count: $count},
			     caddy_cpu_us_per_req: (if .requests > 0 then $cd * 1e6 / $tck / .requests else null end),
			     redis_cpu_us_per_req: (if .requests > 0 then $rd * 1e6 / $tck / .requests else null end)}' >"$outfile"
	[[ -s $outfile ]] || die "wrk printed no WRKJSON line: $out"
}

# check_status PATH MODE WANT [TOKEN]: one request with curl; dies unless WANT.
check_status() {
	local path=$1 mode=$2 want=$3 tok=${4:-} got
	local args=(-s -o "$OUT/log/check.body" -w '%{http_code}' --max-time 5)
	[[ -n $tok ]] && args+=(-H "Authorization: Bearer $tok")
	if [[ $mode == edit ]]; then
		args+=(-X POST -H 'Content-Type: application/json' --data "{\"nickname\":\"Check $RANDOM\",\"username\":\"check_$RANDOM$RANDOM\"}")
	fi
	got=$(curl "${args[@]}" "http://127.0.0.1:$PORT$path")
	if [[ $got != "$want" ]]; then
		die "check failed: $mode $path answered $got, want $want: $(head -c 300 "$OUT/log/check.body")"
	fi
}

# sanity SCENARIO MODE PATH: before measuring, make sure the scenario does
# what it claims: 200 with a good token, 401 with a foreign one or none.
sanity() {
	local sc=$1 mode=$2 path=$3 good bad
	if [[ $mode == plain ]]; then
		check_status "$path" plain 200
		return
	fi
	good=$(sed -n "$((TOKENS - 2))p" "$TOKEN_FILE")
	bad=$(head -1 "$OUT/tokens-foreign.txt")
	check_status "$path" "$mode" 200 "$good"
	check_status "$path" "$mode" 401 "$bad"
	check_status "$path" "$mode" 401 ""
	# A token cut short (signature tampered) is refused too.
	check_status "$path" "$mode" 401 "${good%?????}AAAAA"
}

profile_run() {
	local name=$1 mode=$2 path=$3 distinct=$4 budget=$5
	log "  profiling $name (${PROFILE_SECONDS}s CPU profile during an extra run)"
	curl -s -o "$OUT/prof/$name.cpu.pprof" \
		"http://127.0.0.1:$ADMIN_PORT/debug/pprof/profile?seconds=$PROFILE_SECONDS" &
	local curl_pid=$!
	PIDS+=("$curl_pid")
	sleep 0.5
	run_wrk "$sc" "$mode" "$path" "$distinct" "$((PROFILE_SECONDS + 2))s" "$budget" "$OUT/log/$name-profile-run.json"
	wait "$curl_pid" || true
	go tool pprof -top -nodecount=40 "$CADDY_BIN_USED" "$OUT/prof/$name.cpu.pprof" \
		>"$OUT/prof/$name.top.txt" 2>/dev/null || true
	go tool pprof -top -cum -nodecount=40 "$CADDY_BIN_USED" "$OUT/prof/$name.cpu.pprof" \
		>"$OUT/prof/$name.topcum.txt" 2>/dev/null || true
}

run_scenario() {
	local sc=$1 name kind path mode distinct
	read -r name kind path mode distinct < <(scenario_def "$sc")
	PORT=$(free_port)
	ADMIN_PORT=$(free_port)
	write_config "s$sc-$name" "$kind"
	CADDY_BIN_USED=$CADDY_BIN
	[[ $kind == peer ]] && CADDY_BIN_USED=$PEER_BIN
	log "scenario $sc: $name ($mode $path)"
	start_caddy "$CADDY_BIN_USED" "s$sc-$name"
	sanity "$sc" "$mode" "$path"
	local budget rps=0 runs=() r
	budget=$(next_budget 0)
	run_wrk "$sc" "$mode" "$path" "$distinct" "$WARMUP" "$budget" "$OUT/log/s$sc-warmup.json"
	rps=$(jq .rps "$OUT/log/s$sc-warmup.json")
	for i in $(seq "$RUNS"); do
		budget=$(next_budget "$rps")
		run_wrk "$sc" "$mode" "$path" "$distinct" "$DURATION" "$budget" "$OUT/log/s$sc-run$i.json"
		r=$(cat "$OUT/log/s$sc-run$i.json")
		rps=$(jq .rps <<<"$r")
		printf '   run %d: %8.0f rps  p50 %6s us  p99 %6s us  caddy %6.1f us/req  redis %5.1f us/req  errors %s  wraps %s\n' \
			"$i" "$rps" "$(jq .latency_us.p50 <<<"$r")" "$(jq .latency_us.p99 <<<"$r")" \
			"$(jq .caddy_cpu_us_per_req <<<"$r")" "$(jq .redis_cpu_us_per_req <<<"$r")" \
			"$(jq -c .errors <<<"$r")" "$(jq .wraps <<<"$r")" >&2
		runs+=("$r")
	done
	if [[ $PROFILE == 1 ]]; then
		profile_run "s$sc-$name" "$mode" "$path" "$distinct" "$(next_budget "$rps")"
	fi
	stop_caddy
	printf '%s\n' "${runs[@]}" | jq -s --arg name "$name" --argjson sc "$sc" --arg path "$path" --arg mode "$mode" '
		def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
		{scenario: $sc, name: $name, mode: $mode, path: $path, runs: .,
		 rps: {median: (map(.rps) | median), min: (map(.rps) | min), max: (map(.rps) | max)},
		 p50_us: (map(.latency_us.p50) | median), p99_us: (map(.latency_us.p99) | median),
		 caddy_cpu_us_per_req: (map(.caddy_cpu_us_per_req) | median),
		 redis_cpu_us_per_req: (map(.redis_cpu_us_per_req) | median),
		 errors: (map(.errors | add) | add), wraps: (map(.wraps) | add)}' >"$OUT/s$sc.json"
}

# ------------------------------------------------------------------ memory
mem_redis() {
	log "P4: $MEM_N profiles through store.Edit into a fresh redis-server"
	start_redis
	"$OUT/memload" redis -addr "127.0.0.1:$REDIS_PORT" -env "$ENV_ID" -n "$MEM_N" -values "$MEM_VALUES" >"$OUT/p4.json"
	jq -c . "$OUT/p4.json" >&2
	stop_redis
}

mem_rss() {
	log "P5: Caddy RSS after $RSS_N distinct $RSS_ALG tokens on GET /auth/v1/user/me"
	mint_tokens "$RSS_TOKEN_FILE" "$RSS_N" "$RSS_ALG"
	start_redis
	PORT=$(free_port)
	ADMIN_PORT=$(free_port)
	write_config p5-rss authedge
	start_caddy "$CADDY_BIN" p5-rss
	"$OUT/memload" rss -url "http://127.0.0.1:$PORT/auth/v1/user/me" -tokens "$RSS_TOKEN_FILE" \
		-n "$RSS_N" -pid "$CADDY_PID" >"$OUT/p5.json"
	jq -c . "$OUT/p5.json" >&2
	stop_caddy
	stop_redis
}

# ------------------------------------------------------------------ report
report() {
	local files=()
	for sc in $SCENARIOS; do [[ -f $OUT/s$sc.json ]] && files+=("$OUT/s$sc.json"); done
	local p4=null p5=null
	[[ $MEM == 1 && -f $OUT/p4.json ]] && p4=$(cat "$OUT/p4.json")
	[[ $MEM == 1 && -f $OUT/p5.json ]] && p5=$(cat "$OUT/p5.json")
	jq -s --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg nproc "$(nproc)" \
		--arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
		--arg caddy "$("$CADDY_BIN" version | cut -d' ' -f1)" --arg peer "$PEER_MODULE@$PEER_VERSION" \
		--arg wrk "-t $THREADS -c $CONNS -d $DURATION x $RUNS (warm-up $WARMUP)" \
		--arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
		--argjson p4 "$p4" --argjson p5 "$p5" '
		(map({key: (.scenario | tostring), value: .}) | from_entries) as $s
		| def rps(n): $s[n].rps.median // null;
		  def ratio(a; b): if a != null and b != null and b > 0 then a / b else null end;
		{date: $date, machine: {nproc: ($nproc | tonumber), cpu: $cpu}, commit: $commit,
		 caddy: $caddy, peer: $peer, wrk: $wrk, scenarios: .,
		 ratios: {
		   P1_s3_over_s2: {value: ratio(rps("3"); rps("2")), bar: ">= 1.0"},
		   P2_s4_over_s1: {value: ratio(rps("4"); rps("1")), bar: ">= 0.5"},
		   s5_overhead_over_s1: {value: (if rps("5") != null and rps("1") != null then 1 - rps("5") / rps("1") else null end), bar: "<= 0.10"},
		   P4_redis_bytes_per_user: {value: ($p4.bytes_per_user // null), bar: "<= 450"},
		   P5_caddy_rss_mb: {value: ($p5.rss_after_mb // null), bar: "<= 256"}},
		 memory: {p4: $p4, p5: $p5}}' "${files[@]}" >"$OUT/results.json"

	printf '\n%-3s %-22s %9s %19s %8s %8s %10s %10s %6s\n' \
		"#" scenario "rps" "(min-max)" "p50 ms" "p99 ms" "caddy us" "redis us" errors
	jq -r '.scenarios[] | [.scenario, .name, (.rps.median | floor), "(\(.rps.min | floor)-\(.rps.max | floor))",
		(.p50_us / 1000 * 100 | round / 100), (.p99_us / 1000 * 100 | round / 100),
		(.caddy_cpu_us_per_req * 10 | round / 10), (.redis_cpu_us_per_req * 10 | round / 10), .errors] | @tsv' \
		"$OUT/results.json" | while IFS=$'\t' read -r a b c d e f g h i; do
		printf '%-3s %-22s %9s %19s %8s %8s %10s %10s %6s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i"
	done
	echo
	jq -r '.ratios | to_entries[] | "\(.key): \(if .value.value == null then "n/a" else (.value.value * 1000 | round / 1000) end)  (bar \(.value.bar))"' \
		"$OUT/results.json"
	echo "results: $OUT/results.json"
}

# -------------------------------------------------------------------- main
ensure_tools
build
"$OUT/mint" -keys "$OUT/keys" -n 1 -foreign -iss "$ISSUER" -aud "$ENV_ID" -out "$OUT/tokens-foreign.txt" >/dev/null
mint_tokens "$TOKEN_FILE" "$TOKENS" RS256
LINE_LEN=$(jq .line_len "$TOKEN_FILE.meta.json")
TOKENS=$(jq .n "$TOKEN_FILE.meta.json")

start_redis
for sc in $SCENARIOS; do
	rm -f "$OUT/s$sc.json"
	run_scenario "$sc"
done
stop_redis
if [[ $MEM == 1 ]]; then
	mem_redis
	mem_rss
fi
report
