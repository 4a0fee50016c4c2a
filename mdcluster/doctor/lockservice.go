package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"go.etcd.io/etcd/client/pkg/v3/transport"

	"mdcluster.dev/dlm/etcdembed"
	"mdcluster.dev/mdcluster/config"
)

// probeTimeout bounds every request of a probe: the doctor answers within seconds even when
// the lock service or a peer does not.
const probeTimeout = 3 * time.Second

// latencySamples is how many writes the latency figure is the median of.
const latencySamples = 5

// Etcd is this node's view of an etcd lock service: it measures it, reaches the peers' clocks
// and keeps the nodes' reports (the Board).
type Etcd struct {
	cfg *config.Config
	cli *clientv3.Client
}

// OpenEtcd connects to the lock service cfg names, as the agent's own client does (the local
// member of an etcd-cluster, or the external endpoints, with this node's certificate).
func OpenEtcd(cfg *config.Config) (*Etcd, error) {
	le := cfg.LockEngine
	cc := etcdembed.ClientConfig{Endpoints: []string{le.ClientURL}, DialTimeout: probeTimeout}
	switch le.Type {
	case config.EngineExternal:
		cc.Endpoints = le.Endpoints
	case config.EngineKernel:
		return nil, errors.New("the lock engine is the kernel DLM: no etcd to check")
	}
	if t, ok := le.ClientTLSFiles(); ok {
		cc.CAFile, cc.CertFile, cc.KeyFile = t.CA, t.Cert, t.Key
	}
	cli, err := etcdembed.NewClient(cc)
	if err != nil {
		return nil, err
	}
	return &Etcd{cfg: cfg, cli: cli}, nil
}

// Close closes the client.
func (e *Etcd) Close() error { return e.cli.Close() }

// Lock measures the lock service: its members, whether it has quorum (a linearizable read goes
// through), and the latency of writes (what taking a lock costs).
func (e *Etcd) Lock(ctx context.Context) LockFact {
	lf := LockFact{Endpoints: e.cli.Endpoints()}
	cctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	ml, err := e.cli.MemberList(cctx)
	if err != nil {
		lf.Err = "member list: " + err.Error()
		return lf
	}
	lf.Members = len(ml.Members)
	if st, err := e.cli.Status(cctx, lf.Endpoints[0]); err == nil {
		for _, m := range ml.Members {
			if m.ID == st.Leader {
				lf.Leader = m.Name
			}
		}
	}
	if _, err := e.cli.Get(clientv3.WithRequireLeader(cctx), e.key("quorum")); err != nil {
		lf.Err = "linearizable read: " + err.Error()
		return lf
	}
	lf.Quorum = true
	var took []time.Duration
	for range latencySamples {
		wctx, cancel := context.WithTimeout(ctx, probeTimeout)
		t0 := time.Now()
		_, err := e.cli.Put(wctx, e.key("latency", e.cfg.Node.Name), t0.UTC().Format(time.RFC3339Nano))
		cancel()
		if err != nil {
			lf.Err = "write: " + err.Error()
			return lf
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	lf.Latency, lf.Max = Duration{took[len(took)/2]}, Duration{took[len(took)-1]}
	return lf
}

func (e *Etcd) key(parts ...string) string {
	return path.Join(append([]string{e.cfg.LockEngine.Prefix, "doctor"}, parts...)...)
}

// Publish stores this node's facts for the other nodes' doctor runs.
func (e *Etcd) Publish(ctx context.Context, f Facts) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	_, err = e.cli.Put(ctx, e.key("reports", f.Node), string(b))
	return err
}

// Reports returns every node's latest published facts.
func (e *Etcd) Reports(ctx context.Context) ([]Facts, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	resp, err := e.cli.Get(ctx, e.key("reports")+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	var out []Facts
	for _, kv := range resp.Kvs {
		var f Facts
		if err := json.Unmarshal(kv.Value, &f); err != nil {
			return nil, fmt.Errorf("report %s: %w", kv.Key, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// Clocks measures this node's wall clock against every other member of an agent-formed etcd
// cluster: etcd serves its wall time on the peer URL (/raft/probing, the probe etcd's members
// run on each other), with this node's peer certificate. The offset is taken at the middle of
// the fastest of three round trips (error at most half of it).
func Clocks(ctx context.Context, cfg *config.Config) []ClockFact {
	le := cfg.LockEngine
	if le.Type != config.EngineCluster {
		return nil
	}
	client := &http.Client{Timeout: probeTimeout}
	if t, ok := le.PeerTLSFiles(); ok {
		tc, err := (transport.TLSInfo{TrustedCAFile: t.CA, CertFile: t.Cert, KeyFile: t.Key}).ClientConfig()
		if err != nil {
			return []ClockFact{{Peer: "*", Err: "peer TLS: " + err.Error()}}
		}
		client.Transport = &http.Transport{TLSClientConfig: tc.Clone(), TLSHandshakeTimeout: probeTimeout}
	}
	var out []ClockFact
	for _, p := range le.Peers {
		if p.Name == cfg.Node.Name {
			continue
		}
		out = append(out, clock(ctx, client, p))
	}
	return out
}

func clock(ctx context.Context, client *http.Client, p config.Peer) ClockFact {
	cf := ClockFact{Peer: p.Name}
	best := time.Duration(-1)
	for range 3 {
		t0 := time.Now()
		now, err := probe(ctx, client, strings.TrimSuffix(p.PeerURL, "/")+"/raft/probing")
		rtt := time.Since(t0)
		if err != nil {
			cf.Err = err.Error()
			continue
		}
		if best < 0 || rtt < best {
			best = rtt
			cf.RTT, cf.Offset = Duration{rtt}, Duration{now.Sub(t0.Add(rtt / 2))}
			cf.Err = ""
		}
	}
	return cf
}

func probe(ctx context.Context, client *http.Client, url string) (time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return time.Time{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return time.Time{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return time.Time{}, fmt.Errorf("%s: %s", url, resp.Status)
	}
	var h struct {
		OK  bool
		Now time.Time
	}
	if err := json.Unmarshal(b, &h); err != nil || h.Now.IsZero() {
		return time.Time{}, fmt.Errorf("%s: not etcd's probe answer: %q", url, b)
	}
	return h.Now, nil
}
