package agent

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/etcdembed"
	"mdcluster.dev/dlm/etcdlock"
	"mdcluster.dev/dlm/kerneldlm"
	"mdcluster.dev/mdcluster/config"
)

// lockService is the agent's lock engine and whatever must be closed with it.
type lockService struct {
	engine dlm.Engine
	// etcd is the engine as its concrete type when it is etcd: sessions can be resumed.
	etcd *etcdlock.Engine
	// kv is the etcd client when the engine is etcd: the agent publishes cluster state
	// (members, resync progress) as keys bound to its session's lease.
	kv     *clientv3.Client
	member *etcdembed.Member
}

func (s *lockService) Close() {
	if s.kv != nil {
		s.kv.Close()
	}
	if s.member != nil {
		s.member.Close()
	}
}

// openLockService starts or connects to the configured lock engine.
func openLockService(ctx context.Context, c *config.Config) (*lockService, error) {
	le := c.LockEngine
	s := &lockService{}
	var endpoints []string
	var cc etcdembed.ClientConfig
	switch le.Type {
	case config.EngineEmbedded, config.EngineCluster:
		opts := []etcdembed.Option{etcdembed.WithName(c.Node.Name), etcdembed.WithClientURLs(le.ClientURL),
			etcdembed.WithPeerURLs(le.PeerURL), etcdembed.WithLogLevel("error")}
		if le.Type == config.EngineCluster {
			var ic []string
			for _, p := range le.Peers {
				ic = append(ic, p.Name+"="+p.PeerURL)
			}
			opts = append(opts, etcdembed.WithInitialCluster(strings.Join(ic, ",")))
		}
		m, err := etcdembed.Start(le.DataDir, opts...)
		if err != nil {
			return nil, fmt.Errorf("start etcd member in %s: %w", le.DataDir, err)
		}
		s.member = m
		// Talk to the local member only: a dead peer endpoint stalls a client for longer than a TTL.
		endpoints = m.ClientURLs()
	case config.EngineKernel:
		// The kernel DLM run by corosync and dlm_controld (Pacemaker clusters): the agent's
		// locks live in a userspace lockspace of their own. It has no sessions with a TTL and
		// no fencing tokens: a dead node's locks go when the DLM recovers, after the cluster
		// stack has fenced it.
		s.engine = kerneldlm.New(kerneldlm.WithLockspace(kerneldlm.DefaultLockspace))
		return s, nil
	case config.EngineExternal:
		endpoints = le.Endpoints
		cc = etcdembed.ClientConfig{CAFile: le.TLS.CA, CertFile: le.TLS.Cert, KeyFile: le.TLS.Key}
	default:
		return nil, fmt.Errorf("lock_engine.type %q is not supported by this agent build", le.Type)
	}
	cc.Endpoints = endpoints
	cli, err := etcdembed.NewClient(cc)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	s.kv = cli
	if err := etcdembed.WaitLeader(ctx, cli); err != nil {
		s.Close()
		return nil, fmt.Errorf("etcd %v has no leader: %w", endpoints, err)
	}
	s.etcd = etcdlock.New(cli, etcdlock.WithPrefix(strings.TrimSuffix(le.Prefix, "/")+"/dlm"))
	s.engine = s.etcd
	return s, nil
}
