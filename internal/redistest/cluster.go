package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a running Redis Cluster owned by one test: masters, each with
// its replicas if it was started with any.
type Cluster struct {
	Nodes []*Server
}

// ClusterConfig shapes a test cluster.
type ClusterConfig struct {
	// Masters is how many masters share the slots; at least 3.
	Masters int
	// ReplicasPerMaster is how many replicas follow each master.
	ReplicasPerMaster int
	// NodeTimeout is cluster-node-timeout: how long a master may be
	// unreachable before its replica takes over. Zero means 5 s; a test
	// of failover sets it low (a second) so that a failover takes about
	// two seconds, not ten.
	NodeTimeout time.Duration
}

// Addrs are the nodes' addresses, for a cluster client.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// StartCluster runs n (at least 3) fresh redis-server nodes in cluster mode,
// joins them with `redis-cli --cluster create` (slots spread evenly, no
// replicas) and waits until every node reports the cluster ok. The nodes
// stop when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartClusterWith(t, ClusterConfig{Masters: n})
}

// StartClusterWith runs a cluster of cfg.Masters masters, each followed by
// cfg.ReplicasPerMaster replicas, and returns once every node reports the
// cluster ok and every replica is in sync with its master. The nodes stop
// when the test ends.
func StartClusterWith(t testing.TB, cfg ClusterConfig) *Cluster {
	t.Helper()
	if cfg.Masters < 3 {
		t.Fatalf("a Redis Cluster needs at least 3 masters, not %d", cfg.Masters)
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("redis-cli not found on PATH: install Debian's redis-tools")
	}
	timeout := cfg.NodeTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	c := &Cluster{}
	for range cfg.Masters * (1 + cfg.ReplicasPerMaster) {
		// The bus port is set explicitly: the default, port+10000, may not
		// exist or be free.
		c.Nodes = append(c.Nodes, Start(t,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(FreePort(t)),
			"--cluster-node-timeout", strconv.FormatInt(timeout.Milliseconds(), 10),
			// A master waits 5 s by default for more replicas to share a
			// full sync; a test has no time for that.
			"--repl-diskless-sync-delay", "0",
		))
	}
	// redis-cli makes the first Masters nodes masters and gives them the
	// rest as replicas.
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(cfg.ReplicasPerMaster), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.ready(cfg.Masters * cfg.ReplicasPerMaster)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ready after 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// ready reports why the cluster is not yet ready, nil when it is: every
// node sees the cluster ok and all its nodes, and replicas nodes are
// replicas in sync with their masters.
func (c *Cluster) ready(replicas int) error {
	inSync := 0
	for _, node := range c.Nodes {
		info, err := Command(node.Addr, "CLUSTER", "INFO")
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") ||
			!strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", len(c.Nodes))) {
			return fmt.Errorf("node %s:\n%s", node.Addr, info)
		}
		repl, err := Command(node.Addr, "INFO", "replication")
		if err != nil {
			return err
		}
		if strings.Contains(repl, "role:slave") && strings.Contains(repl, "master_link_status:up") {
			inSync++
		}
	}
	if inSync != replicas {
		return fmt.Errorf("%d of %d replicas in sync", inSync, replicas)
	}
	// And every node knows who replicates whom.
	for _, node := range c.Nodes {
		nodes, err := Topology(node.Addr)
		if err != nil {
			return err
		}
		seen := 0
		for _, n := range nodes {
			if !n.Master && n.MasterID != "-" {
				seen++
			}
		}
		if seen != replicas {
			return fmt.Errorf("node %s sees %d of %d replicas", node.Addr, seen, replicas)
		}
	}
	return nil
}

// ClusterNode is one line of CLUSTER NODES.
type ClusterNode struct {
	ID     string
	Addr   string // host:port, without the bus port
	Master bool
	// MasterID is the ID of the master a replica follows.
	MasterID string
	// Failed is true when the node is flagged fail (or fail?).
	Failed bool
	// Slots are the slot ranges a master serves, as [first, last] pairs.
	Slots [][2]int
}

// Topology is CLUSTER NODES as seen by the node at addr.
func Topology(addr string) ([]ClusterNode, error) {
	out, err := Command(addr, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	var nodes []ClusterNode
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES line %q", line)
		}
		n := ClusterNode{ID: f[0], MasterID: f[3]}
		n.Addr, _, _ = strings.Cut(f[1], "@")
		for _, flag := range strings.Split(f[2], ",") {
			switch flag {
			case "master":
				n.Master = true
			case "fail", "fail?":
				n.Failed = true
			}
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") { // a slot being migrated
				continue
			}
			lo, hi, found := strings.Cut(r, "-")
			if !found {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("CLUSTER NODES slots %q", r)
			}
			n.Slots = append(n.Slots, [2]int{a, b})
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// server is the cluster's Server at addr, nil if none.
func (c *Cluster) server(addr string) *Server {
	for _, s := range c.Nodes {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// MasterFor is the node that serves key's slot, as the live node at via
// sees it, and the replicas that follow it.
func (c *Cluster) MasterFor(t testing.TB, via *Server, key string) (master *Server, replicas []*Server) {
	t.Helper()
	slotText, err := Command(via.Addr, "CLUSTER", "KEYSLOT", key)
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT: %v", err)
	}
	slot, _ := strconv.Atoi(slotText)
	nodes, err := Topology(via.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var masterID string
	for _, n := range nodes {
		for _, r := range n.Slots {
			if n.Master && slot >= r[0] && slot <= r[1] {
				masterID, master = n.ID, c.server(n.Addr)
			}
		}
	}
	if master == nil {
		t.Fatalf("no master serves slot %d:\n%+v", slot, nodes)
	}
	for _, n := range nodes {
		if !n.Master && n.MasterID == masterID {
			replicas = append(replicas, c.server(n.Addr))
		}
	}
	return master, replicas
}

// Role is the role ("master", "slave", "sentinel") INFO replication reports
// at addr.
func Role(addr string) (string, error) {
	info, err := Command(addr, "INFO", "replication")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "role:"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("INFO replication without a role:\n%s", info)
}

// Command sends one command to addr and returns its reply: the text of a
// status or bulk string reply, an array's elements one a line, an error
// for an error reply. It is enough to
// inspect a server without a client library.
func Command(addr string, args ...string) (string, error) {
	return CommandAuth(addr, "", args...)
}

// CommandAuth is Command on a server that needs password (AUTH first), or
// Command itself when password is empty.
func CommandAuth(addr, password string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	write := func(args []string) {
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if password != "" {
		write([]string{"AUTH", password})
	}
	write(args)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return "", err
	}
	rd := bufio.NewReader(conn)
	if password != "" {
		if _, err := readReply(rd); err != nil {
			return "", fmt.Errorf("AUTH: %w", err)
		}
	}
	return readReply(rd)
}

// readReply reads one reply: an array's elements are joined by newlines
// (nested ones flattened), which is enough to look for a value in it.
func readReply(rd *bufio.Reader) (string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("%s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		elems := make([]string, 0, max(n, 0))
		for range n {
			e, err := readReply(rd)
			if err != nil {
				return "", err
			}
			elems = append(elems, e)
		}
		return strings.Join(elems, "\n"), nil
	}
	return "", fmt.Errorf("unsupported reply %q", line)
}

// WaitSlotsListReplicas waits until every node's CLUSTER SLOTS lists every
// replica. Redis leaves out of it a replica that has no replication offset
// yet (nothing written since it joined), and a client that loaded its slot
// map then knows no replica to read from.
func (c *Cluster) WaitSlotsListReplicas(t testing.TB, replicas []*Server, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, node := range c.Nodes {
		for {
			out, err := Command(node.Addr, "CLUSTER", "SLOTS")
			missing := err != nil
			for _, r := range replicas {
				if !strings.Contains(out, "\n"+strconv.Itoa(r.Port)+"\n") {
					missing = true
				}
			}
			if !missing {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("CLUSTER SLOTS of %s lacks a replica after %v: %v\n%s", node.Addr, within, err, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
