package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/fence"
)

var (
	nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	uuidRe = regexp.MustCompile(`^[0-9a-f]{8}:[0-9a-f]{8}:[0-9a-f]{8}:[0-9a-f]{8}$`)
)

// Validate checks every key and returns the first problem, naming its key. It reads no file:
// CheckFiles does.
func (c *Config) Validate() error {
	if !nameRe.MatchString(c.Node.Name) {
		return keyErr("node.name", c.Node.Name, "want 1-63 letters, digits, '.', '_' or '-'")
	}
	if c.Node.ID < 1 || c.Node.ID > 255 {
		return keyErr("node.id", fmt.Sprint(c.Node.ID), "want 1 to 255")
	}
	if c.Node.Address != "" && net.ParseIP(c.Node.Address).To4() == nil {
		return keyErr("node.address", c.Node.Address, "want an IPv4 address")
	}
	// md-cluster stores the cluster name in a 64-byte field; the DLM compares it byte for byte.
	if !nameRe.MatchString(c.Cluster.Name) {
		return keyErr("cluster.name", c.Cluster.Name, "want 1-63 letters, digits, '.', '_' or '-'")
	}
	if err := c.LockEngine.validate(c.Node); err != nil {
		return err
	}
	if err := c.validateArrays(); err != nil {
		return err
	}
	if err := c.validateTopology(); err != nil {
		return err
	}
	if c.Leases.TTL.Duration < 5*time.Second || c.Leases.TTL.Duration > 5*time.Minute {
		return keyErr("leases.ttl", c.Leases.TTL.String(), "want 5s to 5m (etcd's own failover needs more than 5s + 2 election timeouts)")
	}
	if c.Leases.Watchdog != "" {
		if err := checkPath("leases.watchdog", c.Leases.Watchdog); err != nil {
			return err
		}
	}
	if err := c.Leases.validateMargin(); err != nil {
		return err
	}
	if err := c.validateDLMControl(); err != nil {
		return err
	}
	if c.Resync.MaxConcurrent < 1 || c.Resync.MaxConcurrent > 64 {
		return keyErr("resync.max_concurrent", fmt.Sprint(c.Resync.MaxConcurrent), "want 1 to 64")
	}
	if err := c.validateDay2(); err != nil {
		return err
	}
	if err := checkPath("listen.api_socket", c.Listen.APISocket); err != nil {
		return err
	}
	if c.Listen.Metrics != "" {
		if _, _, err := net.SplitHostPort(c.Listen.Metrics); err != nil {
			return keyErr("listen.metrics", c.Listen.Metrics, "want host:port")
		}
	}
	if c.Listen.MetricsWebConfig != "" {
		if err := checkPath("listen.metrics_web_config", c.Listen.MetricsWebConfig); err != nil {
			return err
		}
	}
	return nil
}

// MaxClockRate is the clock-rate difference between nodes the margin must cover.
const MaxClockRate = 0.01

// validateMargin checks the margin against the fencing arithmetic of mdcluster/fence and the
// renewal timing of dlm/etcdlock, the single source of both. The margin covers the watchdog's
// reset and the clock-rate difference between this node and the etcd leader over a whole TTL:
// the node counts its deadline on its own clock, etcd expires the lease on the leader's. It
// must cover a 1 % rate difference (MaxClockRate: ten times what NTP allows, room for a loaded
// VM's clock), so a long TTL needs a longer margin: 5m needs 3s. Above TTL/2 a session renewed
// on schedule would reach its fence point and a healthy node would reset (fence.Healthy).
func (l *Leases) validateMargin() error {
	ttl, m := l.TTL.Duration, l.WatchdogMargin.Duration
	if m < time.Second || m > ttl/2 {
		return keyErr("leases.watchdog_margin", m.String(), fmt.Sprintf("want 1s to leases.ttl/2 (%s)", ttl/2))
	}
	if drift := time.Duration(float64(ttl) * MaxClockRate); m < drift {
		return keyErr("leases.watchdog_margin", m.String(), fmt.Sprintf("want at least %s with leases.ttl %s: the margin covers a %.0f%% clock-rate difference over the TTL", drift, ttl, MaxClockRate*100))
	}
	if l.Watchdog == "" {
		return nil
	}
	// The watchdog's unit is the second: the timeout asked of it must stay below the margin,
	// and the fence point must leave a session renewed on schedule alone.
	if m < fence.MinMargin {
		return keyErr("leases.watchdog_margin", m.String(), fmt.Sprintf("want at least %s with a watchdog", fence.MinMargin))
	}
	t := fence.WatchdogTimeout(ttl, m)
	if t < time.Second || t >= m || !fence.Healthy(ttl, ttl/dlm.RenewDivisor, ttl/dlm.RetryDivisor, m, t) {
		return keyErr("leases.watchdog_margin", m.String(), fmt.Sprintf("with leases.ttl %s no watchdog timeout of a second or more fits: "+
			"a session renewed on schedule would reach its fence point (want a longer ttl or a shorter margin)", ttl))
	}
	return nil
}

// WatchdogTimeout is the timeout the agent asks of the watchdog driver (0: no watchdog).
func (l *Leases) WatchdogTimeout() time.Duration {
	if l.Watchdog == "" {
		return 0
	}
	return fence.WatchdogTimeout(l.TTL.Duration, l.WatchdogMargin.Duration)
}

// Timing describes what the leases' timing means for an operator, in one line: how long the
// lock service may be silent before the node resets itself, and when its arrays move.
func (c *Config) Timing() string {
	l := c.Leases
	t := l.WatchdogTimeout()
	reset := "stops its arrays' I/O"
	if t > 0 {
		reset = fmt.Sprintf("resets itself (watchdog timeout %s)", t)
	}
	return fmt.Sprintf("leases: the node %s after %s without the lock service (worst case); peers take its leases %s after its last renewal",
		reset, fence.StoreSilence(l.TTL.Duration, l.WatchdogMargin.Duration, t), l.TTL.Duration)
}

// TimingWarning says why the leases' timing risks resetting healthy nodes, or "" when it does
// not: on an etcd cluster, a leader change stalls renewals for up to dlm.LeaderFailover, and a
// node whose silence budget is shorter resets itself at every one (a leader crash resets the
// whole cluster). Not refused: a single-member etcd has no leader changes.
func (c *Config) TimingWarning() string {
	if c.LockEngine.Type != EngineCluster && c.LockEngine.Type != EngineExternal {
		return ""
	}
	l := c.Leases
	if s := fence.StoreSilence(l.TTL.Duration, l.WatchdogMargin.Duration, l.WatchdogTimeout()); s < dlm.LeaderFailover {
		return fmt.Sprintf("leases.ttl %s: the node resets itself after %s without the lock service, less than an etcd leader change (up to %s): "+
			"a leader crash would reset every node (want leases.ttl %s or more, or a shorter watchdog_margin)",
			l.TTL.Duration, s, dlm.LeaderFailover, minTTLFor(l.WatchdogMargin.Duration, l.Watchdog != ""))
	}
	return ""
}

// minTTLFor is the shortest TTL, in whole seconds, whose silence budget covers an etcd leader
// change with margin m.
func minTTLFor(m time.Duration, watchdog bool) time.Duration {
	for ttl := 5 * time.Second; ttl < 5*time.Minute; ttl += time.Second {
		var t time.Duration
		if watchdog {
			t = fence.WatchdogTimeout(ttl, m)
		}
		if fence.StoreSilence(ttl, m, t) >= dlm.LeaderFailover {
			return ttl
		}
	}
	return 5 * time.Minute
}

// validateTopology refuses arrays that two nodes could both be granted: on a lock service no
// other node shares, or exclusive ones whose holder cannot reset itself before its lease expires.
func (c *Config) validateTopology() error {
	embedded := c.LockEngine.Type == EngineEmbedded
	if c.Cluster.SingleNode && !embedded {
		return keyErr("cluster.single_node", "", "only with lock_engine.type etcd-embedded (the other engines are shared by the nodes)")
	}
	if embedded && len(c.Arrays) > 0 && !c.Cluster.SingleNode {
		return keyErr("lock_engine.type", EngineEmbedded, "a lock service private to this node: arrays need etcd-cluster or etcd-external "+
			"shared by every node that sees their disks, or cluster.single_node: true when this node is the whole cluster")
	}
	if c.Leases.Watchdog == "" {
		for i, a := range c.Arrays {
			if a.Mode == ModeExclusive {
				return keyErr("leases.watchdog", "", fmt.Sprintf("exclusive arrays need self-fencing (arrays[%d] %s): set the watchdog device", i, a.Name))
			}
		}
	}
	return nil
}

func (c *Config) validateArrays() error {
	uuids, names, devices := map[string]int{}, map[string]int{}, map[string]string{}
	for i, a := range c.Arrays {
		key := fmt.Sprintf("arrays[%d]", i)
		if !uuidRe.MatchString(a.UUID) {
			return keyErr(key+".uuid", a.UUID, "want mdadm's form, e.g. fd4485b9:5882c440:166d447e:b3049159 (lower case)")
		}
		if j, dup := uuids[a.UUID]; dup {
			return keyErr(key+".uuid", a.UUID, fmt.Sprintf("listed twice (arrays[%d])", j))
		}
		uuids[a.UUID] = i
		if !nameRe.MatchString(a.Name) {
			return keyErr(key+".name", a.Name, "want 1-63 letters, digits, '.', '_' or '-'")
		}
		if j, dup := names[a.Name]; dup {
			return keyErr(key+".name", a.Name, fmt.Sprintf("listed twice (arrays[%d])", j))
		}
		names[a.Name] = i
		if a.Mode != ModeClustered && a.Mode != ModeExclusive {
			return keyErr(key+".mode", a.Mode, "want clustered or exclusive")
		}
		if len(a.Devices) == 0 {
			return keyErr(key+".devices", "", "list the member devices by stable path")
		}
		for j, d := range a.Devices {
			dkey := fmt.Sprintf("%s.devices[%d]", key, j)
			if !strings.HasPrefix(d, "/dev/") {
				return keyErr(dkey, d, "want a device path under /dev")
			}
			if err := checkPath(dkey, d); err != nil {
				return err
			}
			// One disk in two arrays (or twice in one) would be written by both.
			if other, dup := devices[d]; dup {
				return keyErr(dkey, d, "listed twice ("+other+")")
			}
			devices[d] = dkey
		}
	}
	return nil
}

// checkPath wants an absolute, clean path: "..", "." or "//" make the file named depend on what
// the path walks through, and let one device hide under two spellings.
func checkPath(key, p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return keyErr(key, p, "want a clean absolute path (no '..', '.', '//' or trailing '/')")
	}
	return nil
}

func checkURL(key, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return keyErr(key, s, "want an http:// or https:// URL with host:port")
	}
	return nil
}

func keyErr(key, value, why string) error {
	if value == "" {
		return fmt.Errorf("%s: %s", key, why)
	}
	return fmt.Errorf("%s: %q: %s", key, value, why)
}
