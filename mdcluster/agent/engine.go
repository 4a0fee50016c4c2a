package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/etcdembed"
	"mdcluster.dev/dlm/etcdlock"
	"mdcluster.dev/dlm/kerneldlm"
	"mdcluster.dev/mdcluster/config"
)

// openLockService starts or connects to the configured lock engine. The agent reaches etcd
// only through the engine (dlm's interfaces); the returned function closes the client and the
// embedded member.
func openLockService(ctx context.Context, c *config.Config, log *slog.Logger) (dlm.Engine, func(), error) {
	le := c.LockEngine
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	var endpoints []string
	var cc etcdembed.ClientConfig
	switch le.Type {
	case config.EngineEmbedded, config.EngineCluster:
		opts := []etcdembed.Option{etcdembed.WithName(c.Node.Name), etcdembed.WithClientURLs(le.ClientURL),
			etcdembed.WithPeerURLs(le.PeerURL), etcdembed.WithLogger(log.With("component", "etcd"))}
		if t, ok := le.ClientTLSFiles(); ok {
			opts = append(opts, etcdembed.WithTLS(etcdembed.TLSFiles{CA: t.CA, Cert: t.Cert, Key: t.Key}))
		}
		if t, ok := le.PeerTLSFiles(); ok {
			opts = append(opts, etcdembed.WithPeerTLS(etcdembed.TLSFiles{CA: t.CA, Cert: t.Cert, Key: t.Key}))
		}
		if le.HeartbeatInterval.Duration != 0 || le.ElectionTimeout.Duration != 0 {
			hb, el := le.RaftTiming()
			opts = append(opts, etcdembed.WithTimeouts(hb, el))
		}
		if le.Type == config.EngineCluster {
			var ic []string
			for _, p := range le.Peers {
				ic = append(ic, p.Name+"="+p.PeerURL)
			}
			opts = append(opts, etcdembed.WithInitialCluster(strings.Join(ic, ",")))
		}
		m, err := etcdembed.Start(le.DataDir, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("start etcd member in %s: %w", le.DataDir, err)
		}
		closers = append(closers, func() { m.Close() })
		// Talk to the local member only: a dead peer endpoint stalls a client for longer than a TTL.
		endpoints = m.ClientURLs()
	case config.EngineKernel:
		// The kernel DLM run by corosync and dlm_controld (Pacemaker clusters): the agent's
		// locks live in a userspace lockspace of their own. It has no sessions with a TTL and
		// no fencing tokens: a dead node's locks go when the DLM recovers, after the cluster
		// stack has fenced it.
		return kerneldlm.New(kerneldlm.WithLockspace(kerneldlm.DefaultLockspace)), func() {}, nil
	case config.EngineExternal:
		endpoints = le.Endpoints
	default:
		return nil, nil, fmt.Errorf("lock_engine.type %q is not supported by this agent build", le.Type)
	}
	cc.Endpoints = endpoints
	cc.Logger = log.With("component", "etcd")
	// The agent's own client authenticates with this node's certificate (mutual TLS).
	if t, ok := le.ClientTLSFiles(); ok {
		cc.CAFile, cc.CertFile, cc.KeyFile = t.CA, t.Cert, t.Key
	}
	cli, err := etcdembed.NewClient(cc)
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	closers = append(closers, func() { cli.Close() })
	if err := etcdembed.WaitLeader(ctx, cli); err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("etcd %v has no leader: %w", endpoints, err)
	}
	return etcdlock.New(cli, etcdlock.WithPrefix(strings.TrimSuffix(le.Prefix, "/")+"/dlm")), closeAll, nil
}
