package etcdlock

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"mdcluster.dev/dlm/etcdembed"
)

// shared is a single-member cluster for the tests that are not about
// membership; each test uses its own prefix.
var shared *cluster

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "etcdlock-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared, err = startCluster(dir, 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	shared.close()
	stopSuiteCluster()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreCurrent()); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// cluster is an in-process etcd cluster on 127.0.0.1 with one client per
// member, each talking to its own member only.
type cluster struct {
	dir     string
	names   []string
	peers   []string
	clients []string
	members []*etcdembed.Member
	cli     []*clientv3.Client
}

func startCluster(dir string, n int) (*cluster, error) {
	urls, err := etcdembed.FreeURLs(2 * n)
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, clients: urls[:n], peers: urls[n:]}
	var ic []string
	for i := range n {
		c.names = append(c.names, fmt.Sprintf("m%d", i))
		ic = append(ic, c.names[i]+"="+c.peers[i])
	}
	c.members = make([]*etcdembed.Member, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			m, err := c.startMember(i, strings.Join(ic, ","), false)
			c.members[i] = m
			errs <- err
		}()
	}
	for range n {
		if e := <-errs; e != nil {
			err = e
		}
	}
	if err != nil {
		c.close()
		return nil, err
	}
	for i := range n {
		cli, err := etcdembed.NewClient(etcdembed.ClientConfig{Endpoints: []string{c.clients[i]}})
		if err != nil {
			c.close()
			return nil, err
		}
		c.cli = append(c.cli, cli)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c, etcdembed.WaitLeader(ctx, c.cli[0])
}

func (c *cluster) startMember(i int, ic string, existing bool) (*etcdembed.Member, error) {
	opts := []etcdembed.Option{
		etcdembed.WithName(c.names[i]), etcdembed.WithClientURLs(c.clients[i]),
		etcdembed.WithPeerURLs(c.peers[i]), etcdembed.WithInitialCluster(ic),
		etcdembed.WithUnsafeNoFsync(), etcdembed.WithLogLevel("panic"),
	}
	if existing {
		opts = append(opts, etcdembed.WithExistingCluster())
	}
	return etcdembed.Start(fmt.Sprintf("%s/%s", c.dir, c.names[i]), opts...)
}

// kill stops member i (its client stays, pointing at a dead endpoint).
func (c *cluster) kill(i int) {
	if c.members[i] != nil {
		c.members[i].Close()
		c.members[i] = nil
	}
}

func (c *cluster) close() {
	for _, cli := range c.cli {
		cli.Close()
	}
	for i := range c.members {
		c.kill(i)
	}
}

var prefixSeq atomic.Int64

// newEngine returns an engine on client i with a prefix of its own.
func (c *cluster) engine(t testing.TB, i int, prefix string) *Engine {
	t.Helper()
	return New(c.cli[i], WithPrefix(prefix))
}

func uniquePrefix(t testing.TB) string {
	return fmt.Sprintf("/test/%s/%d", strings.ReplaceAll(t.Name(), "/", "_"), prefixSeq.Add(1))
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
