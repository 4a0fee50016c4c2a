package controld

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/etcdlock"
)

// ErrLeaseLost is returned by Run when this node's lease expired: the other nodes treat it as
// failed, so it must be fenced (the agent stops petting its watchdog).
var ErrLeaseLost = errors.New("controld: this node's lease expired: the cluster considers it failed")

// Config configures a Daemon.
type Config struct {
	Cluster string        // cluster name, written to configfs cluster_name
	NodeID  int           // kernel DLM node id of this node
	Address net.IP        // this node's address on the cluster network
	TTL     time.Duration // lease TTL: a node is failed this long after it stops renewing
	// FenceWait is how long to wait after a node's lease expired before its lockspaces are
	// recovered when no FenceCommand is set: the failed node's watchdog has reset it by then.
	FenceWait time.Duration
	// FenceCommand, if set, is run with /bin/sh -c to fence a failed node (STONITH); recovery
	// waits until it exits 0. It gets FENCE_NODE_ID and FENCE_NODE_ADDRESS in its environment.
	FenceCommand string
	Prefix       string // etcd key prefix, ending in "/"
	// LeaseFile keeps the lease id so that a restarted agent resumes its lease ("" disables).
	LeaseFile string
	// Monitor is the dlm-monitor device kept open for the daemon's life ("" skips it).
	Monitor string
	FS      ConfigFS
	Log     *slog.Logger
	// Uevents opens the source of lockspace uevents; nil uses the kernel's uevent socket.
	Uevents func() (Source, error)
}

// Event is a lockspace uevent: Action add, online, offline or remove.
type Event struct{ Action, Lockspace string }

// Source delivers lockspace uevents.
type Source interface {
	Next(ctx context.Context) (Event, error)
	Close() error
}

// Daemon is the control plane of one node. Its state is only touched by Run's goroutine.
type Daemon struct {
	cfg  Config
	cli  *clientv3.Client
	log  *slog.Logger
	sess *etcdlock.Session
	mon  *os.File

	nodes   map[int]nodeInfo        // registered nodes, this one included
	members map[string]map[int]bool // every lockspace's members as etcd says
	local   map[string]*localSpace  // lockspaces joined on this node
}

type nodeInfo struct {
	addr  string
	lease int64
}

// localSpace is a lockspace joined here: rev is the etcd revision its member set reflects.
type localSpace struct {
	rev     int64
	members map[int]bool
}

// New returns a daemon using cli for membership.
func New(cli *clientv3.Client, cfg Config) *Daemon {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.FS.Cluster == "" {
		cfg.FS = ConfigFS{Cluster: DefaultClusterDir, Sys: DefaultSysDir}
	}
	if cfg.Uevents == nil {
		cfg.Uevents = kernelUevents
	}
	return &Daemon{cfg: cfg, cli: cli, log: cfg.Log}
}

func (d *Daemon) nodeKey(id int) string { return d.cfg.Prefix + "nodes/" + strconv.Itoa(id) }
func (d *Daemon) lsPrefix(ls string) string {
	return d.cfg.Prefix + "ls/" + escape(ls) + "/"
}
func (d *Daemon) lsKey(ls string, id int) string { return d.lsPrefix(ls) + strconv.Itoa(id) }

// escape keeps a lockspace name inside one key segment.
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "%", "%25"), "/", "%2F")
}
func unescape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "%2F", "/"), "%25", "%")
}

// Run sets the kernel DLM up (or adopts what a previous agent set up) and serves lockspace
// joins, leaves and node failures until ctx ends. It returns ErrLeaseLost when this node's lease
// expires, or another error when it cannot go on; Run may be called again after an error.
func (d *Daemon) Run(ctx context.Context) error {
	if d.mon == nil && d.cfg.Monitor != "" {
		// Kept open for the life of the process: if the agent dies the kernel stops every
		// lockspace instead of running on with a member set nobody maintains.
		f, err := os.OpenFile(d.cfg.Monitor, os.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("controld: open dlm monitor: %w", err)
		}
		d.mon = f
	}
	if err := d.openLease(ctx); err != nil {
		return err
	}
	if err := d.register(ctx); err != nil {
		return err
	}
	adopted, err := d.cfg.FS.Setup(d.cfg.Cluster)
	if err != nil {
		return err
	}
	if err := d.cfg.FS.AddComm(d.cfg.NodeID, d.cfg.Address, true); err != nil {
		return err
	}
	src, err := d.cfg.Uevents()
	if err != nil {
		return fmt.Errorf("controld: uevents: %w", err)
	}
	defer src.Close()
	rev, err := d.snapshot(ctx)
	if err != nil {
		return err
	}
	if err := d.adopt(ctx); err != nil {
		return err
	}
	d.log.Info("dlm control plane ready", "cluster", d.cfg.Cluster, "node", d.cfg.NodeID, "adopted", adopted,
		"nodes", len(d.nodes), "lockspaces", len(d.local), "lease", fmt.Sprintf("%x", int64(d.sess.Lease())))
	return d.loop(ctx, src, rev)
}

// Close ends the session without revoking it (a restart within the TTL resumes it) and closes
// the monitor device, which stops the kernel's lockspaces.
func (d *Daemon) Close() {
	if d.sess != nil {
		d.sess.Orphan()
	}
	if d.mon != nil {
		d.mon.Close()
	}
}

// Lockspaces lists the lockspaces joined on this node; call it only while Run is not running.
func (d *Daemon) Lockspaces() []string {
	var out []string
	for ls := range d.local {
		out = append(out, ls)
	}
	sort.Strings(out)
	return out
}

// openLease resumes the lease named in LeaseFile if it is still alive, else grants a new one.
func (d *Daemon) openLease(ctx context.Context) error {
	if d.sess != nil {
		select {
		case <-d.sess.Done():
			d.sess = nil
		default:
			return nil
		}
	}
	eng := etcdlock.New(d.cli, etcdlock.WithPrefix(strings.TrimSuffix(d.cfg.Prefix, "/")))
	if d.cfg.LeaseFile != "" {
		if b, err := os.ReadFile(d.cfg.LeaseFile); err == nil {
			if id, err := strconv.ParseInt(strings.TrimSpace(string(b)), 16, 64); err == nil {
				if s, err := eng.ResumeLease(ctx, clientv3.LeaseID(id)); err == nil {
					d.log.Info("resumed the previous agent's lease", "lease", fmt.Sprintf("%x", id))
					d.sess = s
					return nil
				}
			}
		}
	}
	s, err := eng.Open(ctx, dlm.WithTTL(d.cfg.TTL))
	if err != nil {
		return fmt.Errorf("controld: open lease: %w", err)
	}
	d.sess = s
	if d.cfg.LeaseFile != "" {
		if err := os.WriteFile(d.cfg.LeaseFile, []byte(fmt.Sprintf("%x\n", int64(s.Lease()))), 0o600); err != nil {
			return fmt.Errorf("controld: %w", err)
		}
	}
	return nil
}

// register publishes this node under its lease. A key left by a previous incarnation of this
// node (it rebooted within the TTL) must expire first, so that every node sees that failure.
func (d *Daemon) register(ctx context.Context) error {
	key := d.nodeKey(d.cfg.NodeID)
	lease := d.sess.Lease()
	for {
		resp, err := d.cli.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("controld: read %s: %w", key, err)
		}
		if len(resp.Kvs) == 0 || clientv3.LeaseID(resp.Kvs[0].Lease) == lease {
			break
		}
		d.log.Warn("waiting for this node's previous incarnation to expire", "lease", fmt.Sprintf("%x", resp.Kvs[0].Lease))
		wctx, cancel := context.WithCancel(ctx)
		wch := d.cli.Watch(wctx, key, clientv3.WithRev(resp.Header.Revision+1))
		for wr := range wch {
			if wr.Err() != nil || hasDelete(wr.Events) {
				break
			}
		}
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if _, err := d.cli.Put(ctx, key, d.cfg.Address.String(), clientv3.WithLease(lease)); err != nil {
		return fmt.Errorf("controld: register node %d: %w", d.cfg.NodeID, err)
	}
	return nil
}

func hasDelete(evs []*clientv3.Event) bool {
	for _, e := range evs {
		if e.Type == clientv3.EventTypeDelete {
			return true
		}
	}
	return false
}

// snapshot reads every node and lockspace member, makes comms entries for the nodes, and
// returns the revision to watch from.
func (d *Daemon) snapshot(ctx context.Context) (int64, error) {
	resp, err := d.cli.Get(ctx, d.cfg.Prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("controld: read membership: %w", err)
	}
	d.nodes, d.members = map[int]nodeInfo{}, map[string]map[int]bool{}
	for _, kv := range resp.Kvs {
		d.apply(string(kv.Key), string(kv.Value), kv.Lease, false)
	}
	for id, n := range d.nodes {
		if id != d.cfg.NodeID {
			if err := d.cfg.FS.AddComm(id, net.ParseIP(n.addr), false); err != nil {
				return 0, err
			}
		}
	}
	return resp.Header.Revision, nil
}

// apply records one key in the membership maps and returns what it is.
func (d *Daemon) apply(key, value string, lease int64, deleted bool) (kind string, ls string, id int) {
	rest := strings.TrimPrefix(key, d.cfg.Prefix)
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && parts[0] == "nodes":
		id, err := strconv.Atoi(parts[1])
		if err != nil {
			return "", "", 0
		}
		if deleted {
			delete(d.nodes, id)
		} else {
			d.nodes[id] = nodeInfo{addr: value, lease: lease}
		}
		return "node", "", id
	case len(parts) == 3 && parts[0] == "ls":
		id, err := strconv.Atoi(parts[2])
		if err != nil {
			return "", "", 0
		}
		ls = unescape(parts[1])
		if deleted {
			delete(d.members[ls], id)
		} else {
			if d.members[ls] == nil {
				d.members[ls] = map[int]bool{}
			}
			d.members[ls][id] = true
		}
		return "ls", ls, id
	}
	return "", "", 0
}
