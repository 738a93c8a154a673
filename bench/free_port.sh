# free_port.sh is sourced by the bench scripts (run.sh, scriptcost.sh).
#
# free_port VAR sets VAR to a loopback TCP port nobody listens on, nor
# handed out by this script already, below the kernel's ephemeral range:
# a port in it can be taken by an outgoing connection (wrk's, Caddy's to
# Redis) between this check and the server's bind. It sets VAR rather
# than printing the port because $(free_port) would run it in a subshell,
# where the ports it hands out are forgotten. It fails when it finds none.

FREE_PORT_USED=" "
FREE_PORT_BELOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
((FREE_PORT_BELOW > 11000)) || FREE_PORT_BELOW=32768

free_port() {
	local candidate
	for _ in $(seq 200); do
		candidate=$((10000 + RANDOM % (FREE_PORT_BELOW - 10000)))
		[[ $FREE_PORT_USED == *" $candidate "* ]] && continue
		if [[ -z $(ss -Htln "sport = :$candidate") ]]; then
			FREE_PORT_USED+="$candidate "
			printf -v "$1" '%s' "$candidate"
			return 0
		fi
	done
	echo "no free loopback port found" >&2
	return 1
}
