package controld

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/mdcluster/md"
)

// ErrLeaseLost is returned by Run when the session it rides ended: the other nodes treat this
// node as failed once its keys vanish, so it must be fenced (the agent stops petting its
// watchdog).
var ErrLeaseLost = errors.New("controld: this node's session ended: the cluster considers it failed")

// Session is what the control plane rides: the agent's own session, whose store keeps the
// membership keys bound to it. One lease per node, so the watchdog and the peers' fence wait
// measure the same expiry.
type Session interface {
	dlm.StoreSession
	dlm.Identified
}

// Config configures a Daemon.
type Config struct {
	Cluster string // cluster name, written to configfs cluster_name
	NodeID  int    // kernel DLM node id of this node
	Address net.IP // this node's address on the cluster network
	// FenceWait is how long to wait after a node's session expired before its lockspaces are
	// recovered when no FenceCommand is set: the failed node's watchdog has reset it by then.
	FenceWait time.Duration
	// FenceCommand, if set, is run with /bin/sh -c to fence a failed node (STONITH); recovery
	// waits until it exits 0. It gets FENCE_NODE_ID and FENCE_NODE_ADDRESS in its environment,
	// and is killed (its process group) when this node's own session ends.
	FenceCommand string
	Prefix       string // store key prefix, ending in "/"
	// Monitor is the dlm-monitor device kept open for the daemon's life ("" skips it).
	Monitor string
	FS      ConfigFS
	Log     *slog.Logger
}

// Daemon is the control plane of one node. Its state is only touched by Run's goroutine.
type Daemon struct {
	cfg    Config
	events <-chan md.LockspaceEvent
	log    *slog.Logger
	mon    *os.File

	sess Session // the session of the current Run
	kv   dlm.Store

	nodes   map[int]nodeInfo        // registered nodes, this one included
	members map[string]map[int]bool // every lockspace's members as the store says
	local   map[string]*localSpace  // lockspaces joined on this node
}

type nodeInfo struct {
	addr string
	sess dlm.SessionID
}

// localSpace is a lockspace joined here: rev is the store revision its member set reflects.
type localSpace struct {
	rev     int64
	members map[int]bool
}

// New returns a daemon that takes the kernel's lockspace uevents (SUBSYSTEM=dlm: online,
// offline; others are ignored) from events: the agent reads the one uevent socket (md.Watcher)
// and forwards them. Events sent while Run is not running wait in the channel.
func New(cfg Config, events <-chan md.LockspaceEvent) *Daemon {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.FS.Cluster == "" {
		cfg.FS = ConfigFS{Cluster: DefaultClusterDir, Sys: DefaultSysDir}
	}
	return &Daemon{cfg: cfg, events: events, log: cfg.Log}
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
// joins, leaves and node failures with sess until ctx ends. It returns ErrLeaseLost when sess
// ends, whatever Run was doing (even waiting to fence a node), or another error when it cannot
// go on; Run may be called again after an error, with the same session or a new one.
func (d *Daemon) Run(ctx context.Context, sess Session) error {
	if sess.Ctx().Err() != nil {
		return ErrLeaseLost
	}
	d.sess, d.kv = sess, sess.Store()
	// Everything Run waits for — the store, a fence wait, a fence command — ends with the
	// session: a node whose own session ended is the one about to be fenced, and must not go on
	// to recover another's slots.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(sess.Ctx(), cancel)
	defer stop()
	err := d.run(ctx)
	if sess.Ctx().Err() != nil {
		return fmt.Errorf("%w (%v)", ErrLeaseLost, err)
	}
	return err
}

func (d *Daemon) run(ctx context.Context) error {
	if d.mon == nil && d.cfg.Monitor != "" {
		// Kept open for the life of the process: if the agent dies the kernel stops every
		// lockspace instead of running on with a member set nobody maintains.
		f, err := os.OpenFile(d.cfg.Monitor, os.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("controld: open dlm monitor: %w", err)
		}
		d.mon = f
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
	rev, err := d.snapshot(ctx)
	if err != nil {
		return err
	}
	if err := d.adopt(ctx); err != nil {
		return err
	}
	d.log.Info("dlm control plane ready", "cluster", d.cfg.Cluster, "node", d.cfg.NodeID, "adopted", adopted,
		"nodes", len(d.nodes), "lockspaces", len(d.local), "session", fmt.Sprintf("%x", int64(d.sess.ID())))
	return d.loop(ctx, rev)
}

// Close closes the monitor device, which stops the kernel's lockspaces. The session is the
// caller's.
func (d *Daemon) Close() {
	if d.mon != nil {
		d.mon.Close()
		d.mon = nil
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

// register publishes this node under its session. A key left by a previous incarnation of this
// node (it rebooted within the TTL) must expire first, so that every node sees that failure.
func (d *Daemon) register(ctx context.Context) error {
	key := d.nodeKey(d.cfg.NodeID)
	for {
		kvs, rev, err := d.kv.Get(ctx, key, 0)
		if err != nil {
			return fmt.Errorf("controld: read %s: %w", key, err)
		}
		i := slices.IndexFunc(kvs, func(kv dlm.KeyValue) bool { return kv.Key == key })
		if i < 0 || kvs[i].Session == d.sess.ID() {
			break
		}
		d.log.Warn("waiting for this node's previous incarnation to expire", "session", fmt.Sprintf("%x", int64(kvs[i].Session)))
		if err := d.waitDeleted(ctx, key, rev); err != nil {
			return err
		}
	}
	if _, err := d.kv.Put(ctx, key, []byte(d.cfg.Address.String())); err != nil {
		return fmt.Errorf("controld: register node %d: %w", d.cfg.NodeID, err)
	}
	return nil
}

// waitDeleted returns once key is deleted after revision rev, or the watch failed (the caller
// reads again).
func (d *Daemon) waitDeleted(ctx context.Context, key string, rev int64) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for wr := range d.kv.Watch(wctx, key, rev) {
		if wr.Err != nil {
			break
		}
		for _, ev := range wr.Events {
			if ev.Deleted && ev.KV.Key == key {
				return nil
			}
		}
	}
	return ctx.Err()
}

// snapshot reads every node and lockspace member, makes comms entries for the nodes, and
// returns the revision to watch from.
func (d *Daemon) snapshot(ctx context.Context) (int64, error) {
	kvs, rev, err := d.kv.Get(ctx, d.cfg.Prefix, 0)
	if err != nil {
		return 0, fmt.Errorf("controld: read membership: %w", err)
	}
	d.nodes, d.members = map[int]nodeInfo{}, map[string]map[int]bool{}
	for _, kv := range kvs {
		d.apply(kv.Key, string(kv.Value), kv.Session, false)
	}
	for id, n := range d.nodes {
		if id != d.cfg.NodeID {
			if err := d.cfg.FS.AddComm(id, net.ParseIP(n.addr), false); err != nil {
				return 0, err
			}
		}
	}
	return rev, nil
}

// apply records one key in the membership maps and returns what it is.
func (d *Daemon) apply(key, value string, sess dlm.SessionID, deleted bool) (kind string, ls string, id int) {
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
			d.nodes[id] = nodeInfo{addr: value, sess: sess}
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
