// Package etcdembed runs an etcd member inside the current process, for
// the etcd lock engine (mdcluster.dev/dlm/etcdlock) and its tests: a single
// member in a data directory by default, or one member of a 3- or 5-member
// cluster. It also builds clients for external clusters, with TLS/mTLS.
package etcdembed

import (
	"context"
	"errors"
	"fmt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ErrNotReady is returned when the member did not become ready in time.
var ErrNotReady = errors.New("etcdembed: member not ready")

// Member is a running in-process etcd member.
type Member struct {
	etcd *embed.Etcd
	name string
	// closing is set by Close: the listener errors of a clean stop are then debug lines.
	closing *atomic.Bool
}

type config struct {
	name               string
	clientURLs         []string
	peerURLs           []string
	initialCluster     string
	existing           bool
	tickMs             uint
	electionMs         uint
	logger             *slog.Logger
	logLevel           string
	noFsync            bool
	compaction         time.Duration
	clientTLS, peerTLS *TLSFiles
	readyTimeout       time.Duration
}

// DefaultCompaction is the history the member keeps (etcd's periodic auto-compaction). etcdlock
// writes the same keys again and again, and etcd keeps every revision until it compacts, so
// without it the database grows until etcd refuses writes at its quota. Periodic rather than
// by revision count: a watch restarted from a revision read a little earlier must find it, and
// a burst of lock traffic must not shorten that window. Ten minutes is longer than the longest
// session TTL (5m), so a watch resumed after a session-length disruption still can.
const DefaultCompaction = 10 * time.Minute

// TLSFiles names the PEM files of mutual TLS: CA verifies the other side (which must present a
// certificate it signed), Cert and Key are this side's.
type TLSFiles struct {
	CA, Cert, Key string
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

// WithLogger sends the member's logs to l (default slog.Default()), at l's level: etcd's info
// lines at debug, its warnings and errors at theirs, as text through l's handler.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithLogLevel drops etcd's lines below level ("debug", "info", "warn", "error", "panic")
// before they reach the logger, e.g. "error" in tests where etcd's warnings about slow applies
// are noise. Default: none dropped; the logger's level decides.
func WithLogLevel(level string) Option { return func(c *config) { c.logLevel = level } }

// WithAutoCompaction keeps retention of history (etcd's periodic mode; default
// DefaultCompaction); 0 keeps every revision, for tests only.
func WithAutoCompaction(retention time.Duration) Option {
	return func(c *config) { c.compaction = retention }
}

// WithTLS serves the client URLs (https) with f.Cert and f.Key and requires every client to
// present a certificate signed by f.CA (etcd's --client-cert-auth).
func WithTLS(f TLSFiles) Option { return func(c *config) { c.clientTLS = &f } }

// WithPeerTLS serves the peer URLs (https) with f's certificate, presents it to the other
// members and requires theirs, signed by f.CA (etcd's --peer-client-cert-auth).
func WithPeerTLS(f TLSFiles) Option { return func(c *config) { c.peerTLS = &f } }

// WithUnsafeNoFsync disables fsync: for tests and benchmarks on tmpfs only.
func WithUnsafeNoFsync() Option { return func(c *config) { c.noFsync = true } }

// WithReadyTimeout bounds how long Start waits for the member to serve
// (default 60 s: a cluster member waits for a quorum of its peers).
func WithReadyTimeout(d time.Duration) Option { return func(c *config) { c.readyTimeout = d } }

// The member's raft timing unless WithTimeouts sets it (held at 100 % host CPU in the VM lab).
const (
	DefaultHeartbeat = 100 * time.Millisecond
	DefaultElection  = time.Second
)

// Start runs a member with its data in dir and returns once it serves
// clients (for a cluster member: once the cluster has a quorum).
func Start(dir string, opts ...Option) (*Member, error) {
	c := config{
		name:         "default",
		clientURLs:   []string{"http://127.0.0.1:2379"},
		peerURLs:     []string{"http://127.0.0.1:2380"},
		tickMs:       uint(DefaultHeartbeat / time.Millisecond),
		electionMs:   uint(DefaultElection / time.Millisecond),
		compaction:   DefaultCompaction,
		readyTimeout: 60 * time.Second,
	}
	for _, o := range opts {
		o(&c)
	}
	cfg, closing, err := c.embedConfig(dir)
	if err != nil {
		return nil, err
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdembed: start member %q: %w", c.name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return &Member{etcd: e, name: c.name, closing: closing}, nil
	case err := <-e.Err():
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("etcdembed: member %q: %w", c.name, err)
	case <-time.After(c.readyTimeout):
		closing.Store(true)
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("%w: member %q after %v", ErrNotReady, c.name, c.readyTimeout)
	}
}

// embedConfig is etcd's configuration for c, with the logger that hands its lines to slog.
func (c *config) embedConfig(dir string) (*embed.Config, *atomic.Bool, error) {
	floor := zapcore.DebugLevel
	if c.logLevel != "" {
		l, err := zapcore.ParseLevel(c.logLevel)
		if err != nil {
			return nil, nil, fmt.Errorf("etcdembed: log level %q: %w", c.logLevel, err)
		}
		floor = l
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	closing := new(atomic.Bool)
	cfg := embed.NewConfig()
	cfg.Name = c.name
	cfg.Dir = dir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newSlogLogger(c.logger.Handler(), floor, closing).With(zap.String("member", c.name)))
	cfg.TickMs, cfg.ElectionMs = c.tickMs, c.electionMs
	cfg.UnsafeNoFsync = c.noFsync
	if c.compaction > 0 {
		cfg.AutoCompactionMode, cfg.AutoCompactionRetention = embed.CompactorModePeriodic, c.compaction.String()
	}
	var err error
	if cfg.ListenClientUrls, err = parseURLs(c.clientURLs); err != nil {
		return nil, nil, err
	}
	if cfg.ListenPeerUrls, err = parseURLs(c.peerURLs); err != nil {
		return nil, nil, err
	}
	if err := tlsFor("client", cfg.ListenClientUrls, c.clientTLS, &cfg.ClientTLSInfo); err != nil {
		return nil, nil, err
	}
	if err := tlsFor("peer", cfg.ListenPeerUrls, c.peerTLS, &cfg.PeerTLSInfo); err != nil {
		return nil, nil, err
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
	return cfg, closing, nil
}

// tlsFor sets the member's TLS for one kind of URL: https URLs need the files, and files for
// http URLs would be dropped by etcd with a warning, so both are errors.
func tlsFor(kind string, urls []url.URL, f *TLSFiles, info *transport.TLSInfo) error {
	for _, u := range urls {
		switch {
		case u.Scheme == "https" && f == nil:
			return fmt.Errorf("etcdembed: %s URL %s is https: TLS files needed", kind, u.String())
		case u.Scheme != "https" && f != nil:
			return fmt.Errorf("etcdembed: %s URL %s is not https, but TLS files were given", kind, u.String())
		}
	}
	if f == nil {
		return nil
	}
	if f.CA == "" || f.Cert == "" || f.Key == "" {
		return fmt.Errorf("etcdembed: %s TLS needs CA, certificate and key", kind)
	}
	*info = transport.TLSInfo{CertFile: f.Cert, KeyFile: f.Key, TrustedCAFile: f.CA, ClientCertAuth: true}
	return nil
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
func (m *Member) Close() {
	m.closing.Store(true)
	m.etcd.Close()
}

// ClientConfig says how NewClient reaches a cluster (external or embedded).
type ClientConfig struct {
	// Endpoints lists the client URLs, all http:// or all https://; use only the local member
	// in a cluster of VMs (a dead endpoint stalls the client, see docs/etcd-in-vms.md).
	Endpoints []string
	// CAFile verifies the servers of https endpoints (required with them); CertFile and KeyFile
	// are the client certificate a member with client certificate auth (WithTLS) requires.
	CAFile, CertFile, KeyFile string
	// DialTimeout bounds the first connection (default 5 s).
	DialTimeout time.Duration
	// Logger gets the client's errors (default slog.Default()); its warnings are retries.
	Logger *slog.Logger
}

// NewClient returns an etcd client for cfg. Keepalive probes are enabled so
// that a dead endpoint is noticed.
func NewClient(cfg ClientConfig) (*clientv3.Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcdembed: no endpoints")
	}
	https := strings.HasPrefix(cfg.Endpoints[0], "https://")
	for _, ep := range cfg.Endpoints {
		if strings.HasPrefix(ep, "https://") != https {
			return nil, fmt.Errorf("etcdembed: endpoints %v mix http and https", cfg.Endpoints)
		}
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("etcdembed: client certificate and key go together")
	}
	hasTLS := cfg.CAFile != "" || cfg.CertFile != ""
	switch {
	case https && cfg.CAFile == "":
		return nil, fmt.Errorf("etcdembed: https endpoints %v need a CA file", cfg.Endpoints)
	case !https && hasTLS:
		return nil, fmt.Errorf("etcdembed: endpoints %v are not https, but TLS files were given", cfg.Endpoints)
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	cc := clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		// gRPC's default reconnect backoff grows to 120 s: after an outage of 20 s the client
		// waited up to 10 s more before it tried again, so a session whose lock service was
		// back in time still reached its fence point. Retry the connection every second.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		})},
		Logger: newSlogLogger(lg.Handler(), zapcore.ErrorLevel, nil),
	}
	if cc.DialTimeout == 0 {
		cc.DialTimeout = 5 * time.Second
	}
	if hasTLS {
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
