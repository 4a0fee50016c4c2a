// Package etcdembed runs an etcd member inside the current process, for
// the etcd lock engine (mdcluster.dev/dlm/etcdlock) and its tests: a single
// member in a data directory by default, or one member of a 3- or 5-member
// cluster. It also builds clients for external clusters, with TLS/mTLS.
package etcdembed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// ErrNotReady is returned when the member did not become ready in time.
var ErrNotReady = errors.New("etcdembed: member not ready")

// Member is a running in-process etcd member.
type Member struct {
	etcd *embed.Etcd
	name string
}

type config struct {
	name           string
	clientURLs     []string
	peerURLs       []string
	initialCluster string
	existing       bool
	tickMs         uint
	electionMs     uint
	logLevel       string
	noFsync        bool
	compaction     string
	readyTimeout   time.Duration
}

// Option configures Start.
type Option func(*config)

// WithName sets the member name (default "default"). In a cluster it must
// match one of the names in the initial cluster string.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithClientURLs sets the URLs the member serves clients on (default
// http://127.0.0.1:2379). They are also advertised.
func WithClientURLs(urls ...string) Option { return func(c *config) { c.clientURLs = urls } }

// WithPeerURLs sets the URLs the member talks raft on (default
// http://127.0.0.1:2380). They are also advertised.
func WithPeerURLs(urls ...string) Option { return func(c *config) { c.peerURLs = urls } }

// WithInitialCluster makes the member one of a cluster, e.g.
// "n1=http://127.0.0.1:2380,n2=http://127.0.0.1:2381,n3=http://127.0.0.1:2382".
// Without it the member forms a single-member cluster.
func WithInitialCluster(s string) Option { return func(c *config) { c.initialCluster = s } }

// WithExistingCluster restarts a member of an existing cluster from its data
// directory ("initial-cluster-state=existing").
func WithExistingCluster() Option { return func(c *config) { c.existing = true } }

// WithTimeouts sets the raft heartbeat interval and election timeout
// (default 100 ms and 1000 ms, which held at 100 % host CPU in the VM lab).
func WithTimeouts(heartbeat, election time.Duration) Option {
	return func(c *config) {
		c.tickMs = uint(heartbeat / time.Millisecond)
		c.electionMs = uint(election / time.Millisecond)
	}
}

// WithLogLevel sets etcd's log level (default "error": etcd's warnings about
// slow applies are harmless but flood test output).
func WithLogLevel(level string) Option { return func(c *config) { c.logLevel = level } }

// WithAutoCompaction compacts history older than retention (etcd's
// periodic mode, e.g. "1h"); without it etcd keeps every revision.
func WithAutoCompaction(retention string) Option { return func(c *config) { c.compaction = retention } }

// WithUnsafeNoFsync disables fsync: for tests and benchmarks on tmpfs only.
func WithUnsafeNoFsync() Option { return func(c *config) { c.noFsync = true } }

// WithReadyTimeout bounds how long Start waits for the member to serve
// (default 60 s: a cluster member waits for a quorum of its peers).
func WithReadyTimeout(d time.Duration) Option { return func(c *config) { c.readyTimeout = d } }

// Start runs a member with its data in dir and returns once it serves
// clients (for a cluster member: once the cluster has a quorum).
func Start(dir string, opts ...Option) (*Member, error) {
	c := config{
		name:         "default",
		clientURLs:   []string{"http://127.0.0.1:2379"},
		peerURLs:     []string{"http://127.0.0.1:2380"},
		tickMs:       100,
		electionMs:   1000,
		logLevel:     "error",
		readyTimeout: 60 * time.Second,
	}
	for _, o := range opts {
		o(&c)
	}
	cfg := embed.NewConfig()
	cfg.Name = c.name
	cfg.Dir = dir
	cfg.LogLevel = c.logLevel
	cfg.TickMs, cfg.ElectionMs = c.tickMs, c.electionMs
	cfg.UnsafeNoFsync = c.noFsync
	if c.compaction != "" {
		cfg.AutoCompactionMode, cfg.AutoCompactionRetention = embed.CompactorModePeriodic, c.compaction
	}
	var err error
	if cfg.ListenClientUrls, err = parseURLs(c.clientURLs); err != nil {
		return nil, err
	}
	if cfg.ListenPeerUrls, err = parseURLs(c.peerURLs); err != nil {
		return nil, err
	}
	cfg.AdvertiseClientUrls, cfg.AdvertisePeerUrls = cfg.ListenClientUrls, cfg.ListenPeerUrls
	if c.initialCluster != "" {
		cfg.InitialCluster = c.initialCluster
	} else {
		cfg.InitialCluster = cfg.InitialClusterFromName(c.name)
	}
	if c.existing {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdembed: start member %q: %w", c.name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return &Member{etcd: e, name: c.name}, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcdembed: member %q: %w", c.name, err)
	case <-time.After(c.readyTimeout):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("%w: member %q after %v", ErrNotReady, c.name, c.readyTimeout)
	}
}

func parseURLs(ss []string) ([]url.URL, error) {
	out := make([]url.URL, 0, len(ss))
	for _, s := range ss {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("etcdembed: url %q: %w", s, err)
		}
		out = append(out, *u)
	}
	return out, nil
}

// Name is the member's name.
func (m *Member) Name() string { return m.name }

// ClientURLs are the URLs the member serves clients on.
func (m *Member) ClientURLs() []string {
	var out []string
	for _, u := range m.etcd.Config().AdvertiseClientUrls {
		out = append(out, u.String())
	}
	return out
}

// HasLeader reports whether the member currently knows a raft leader.
func (m *Member) HasLeader() bool { return m.etcd.Server.Leader() != 0 }

// IsLeader reports whether the member is the raft leader right now.
func (m *Member) IsLeader() bool { return m.etcd.Server.Leader() == m.etcd.Server.MemberID() }

// Close stops the member (a clean shutdown, as far as etcd can tell).
func (m *Member) Close() { m.etcd.Close() }

// ClientConfig says how NewClient reaches a cluster (external or embedded).
type ClientConfig struct {
	// Endpoints lists the client URLs; use only the local member in a
	// cluster of VMs (a dead endpoint stalls the client, see
	// docs/etcd-in-vms.md).
	Endpoints []string
	// CAFile, CertFile and KeyFile enable TLS (CAFile alone) or mTLS.
	CAFile, CertFile, KeyFile string
	// DialTimeout bounds the first connection (default 5 s).
	DialTimeout time.Duration
}

// NewClient returns an etcd client for cfg. Keepalive probes are enabled so
// that a dead endpoint is noticed.
func NewClient(cfg ClientConfig) (*clientv3.Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcdembed: no endpoints")
	}
	cc := clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		Logger:               quietLogger(),
	}
	if cc.DialTimeout == 0 {
		cc.DialTimeout = 5 * time.Second
	}
	if cfg.CAFile != "" || cfg.CertFile != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcdembed: client for %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return cli, nil
}

// FreeURLs returns n URLs http://127.0.0.1:PORT on ports that were free a
// moment ago (the kernel picks them; a tiny race with other processes
// remains).
func FreeURLs(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("etcdembed: free port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, "http://"+l.Addr().String())
	}
	return out, nil
}

// WaitLeader waits until a client request through cli succeeds, that is
// until the cluster serves linearizable requests.
func WaitLeader(ctx context.Context, cli *clientv3.Client) error {
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cli.Get(clientv3.WithRequireLeader(rctx), "health")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcdembed: wait for leader: %w (last: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
