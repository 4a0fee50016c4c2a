// Package controld is mdclusterd's DLM control plane: it does what dlm_controld does for the
// Linux kernel DLM — the configfs cluster set-up, lockspace joins and leaves answered through
// uevents and sysfs, and node failures (after fencing) — with the member sets agreed through the
// lock service's store (dlm.Store: etcd) instead of corosync.
//
// It rides the agent's own session (one lease per node, so the watchdog and the peers' fence
// wait measure the same expiry) and takes the lockspace uevents from the agent's uevent socket.
// Membership lives under a key prefix: nodes/<id> (the node's address) and ls/<lockspace>/<id>,
// all bound to the node's session. Every node applies the changes in revision order; a joiner
// starts with the member set of its own join's revision. A node whose session expires has
// failed: once it is fenced, comms/<id> goes first (so the kernel reports a failure to
// md-cluster, which recovers the node's bitmap slot), then the node leaves every lockspace.
package controld

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Default kernel paths.
const (
	DefaultClusterDir = "/sys/kernel/config/dlm/cluster"
	DefaultSysDir     = "/sys/kernel/dlm"
)

// ConfigFS writes the kernel DLM's configfs tree and per-lockspace sysfs controls.
type ConfigFS struct {
	Cluster string // configfs cluster directory, DefaultClusterDir
	Sys     string // sysfs lockspace directory, DefaultSysDir
}

func (c ConfigFS) write(path, value string) error {
	// One write() without a newline: cluster_name is compared byte for byte and addr must
	// arrive in a single write.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("controld: %w", err)
	}
	_, werr := f.Write([]byte(value))
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("controld: write %q to %s: %w", value, path, werr)
	}
	if cerr != nil {
		return fmt.Errorf("controld: close %s: %w", path, cerr)
	}
	return nil
}

func (c ConfigFS) read(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("controld: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Setup makes the cluster directory with name, recover callbacks and TCP. If the directory
// exists (an agent restarted) it is adopted when its name matches and refused otherwise. It
// reports whether it adopted an existing set-up.
func (c ConfigFS) Setup(name string) (adopted bool, err error) {
	if err := os.Mkdir(c.Cluster, 0o755); err != nil {
		if !errors.Is(err, os.ErrExist) {
			return false, fmt.Errorf("controld: make %s: %w", c.Cluster, err)
		}
		got, err := c.read(filepath.Join(c.Cluster, "cluster_name"))
		if err != nil {
			return false, err
		}
		if got != name {
			return false, fmt.Errorf("controld: %s belongs to cluster %q, not %q", c.Cluster, got, name)
		}
		return true, nil
	}
	for _, kv := range [][2]string{{"cluster_name", name}, {"recover_callbacks", "1"}, {"protocol", "0"}} {
		if err := c.write(filepath.Join(c.Cluster, kv[0]), kv[1]); err != nil {
			return false, err
		}
	}
	return false, nil
}

// sockaddrIPv4 is the 128-byte struct sockaddr_storage the kernel wants in comms/N/addr:
// AF_INET, port 0 (lowcomms compares ports and zeroes them for accepted peers), the address.
func sockaddrIPv4(ip net.IP) ([]byte, error) {
	v4 := ip.To4()
	if v4 == nil {
		return nil, fmt.Errorf("controld: %v is not an IPv4 address", ip)
	}
	b := make([]byte, 128)
	binary.LittleEndian.PutUint16(b[0:], 2) // AF_INET, host order
	copy(b[4:8], v4)                        // sin_port (b[2:4]) stays 0
	return b, nil
}

// AddComm makes comms/<id> with the node's address; local marks this node.
func (c ConfigFS) AddComm(id int, ip net.IP, local bool) error {
	dir := filepath.Join(c.Cluster, "comms", strconv.Itoa(id))
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		return fmt.Errorf("controld: make %s: %w", dir, err)
	}
	addr, err := sockaddrIPv4(ip)
	if err != nil {
		return err
	}
	if err := c.write(filepath.Join(dir, "nodeid"), strconv.Itoa(id)); err != nil {
		return err
	}
	if err := c.write(filepath.Join(dir, "addr"), string(addr)); err != nil {
		return err
	}
	if local {
		return c.write(filepath.Join(dir, "local"), "1")
	}
	return nil
}

// RemoveComm removes comms/<id>. Done before a dead node leaves the lockspaces, it makes the
// kernel treat the node as failed (md-cluster then recovers its bitmap slot), not as gone cleanly.
func (c ConfigFS) RemoveComm(id int) error {
	err := removeDir(filepath.Join(c.Cluster, "comms", strconv.Itoa(id)))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Comms lists the node ids with a comms entry.
func (c ConfigFS) Comms() ([]int, error) { return listIDs(filepath.Join(c.Cluster, "comms")) }

// Spaces lists the lockspaces with a configfs directory (joined through us).
func (c ConfigFS) Spaces() ([]string, error) { return listNames(filepath.Join(c.Cluster, "spaces")) }

// KernelSpaces lists the lockspaces the kernel has (joined, joining or leaving).
func (c ConfigFS) KernelSpaces() ([]string, error) { return listNames(c.Sys) }

// Members lists the node ids configured in lockspace ls.
func (c ConfigFS) Members(ls string) ([]int, error) {
	return listIDs(filepath.Join(c.Cluster, "spaces", ls, "nodes"))
}

// lockspaceID is the 32-bit id every node writes for ls (the same on all nodes, never 0).
func lockspaceID(ls string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(ls))
	if v := h.Sum32(); v != 0 {
		return v
	}
	return 1
}

// Join answers a local join: the lockspace gets members (this node included), its id, starts,
// and the kernel is told the join may complete.
func (c ConfigFS) Join(ls string, members []int) error {
	if err := c.Prepare(ls, members); err != nil {
		return err
	}
	return c.StartJoined(ls)
}

// Prepare is the first half of Join: the lockspace's directories, its members (this node
// included) and its id; nothing runs yet.
func (c ConfigFS) Prepare(ls string, members []int) error {
	if err := os.MkdirAll(filepath.Join(c.Cluster, "spaces", ls, "nodes"), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("controld: make space %s: %w", ls, err)
	}
	for _, m := range members {
		if err := c.addMember(ls, m); err != nil {
			return err
		}
	}
	return c.write(filepath.Join(c.Sys, ls, "id"), strconv.FormatUint(uint64(lockspaceID(ls)), 10))
}

// StartJoined is the second half of Join: the lockspace starts (the kernel runs its first
// recovery) and the kernel is told the join may complete.
func (c ConfigFS) StartJoined(ls string) error {
	if err := c.Start(ls); err != nil {
		return err
	}
	return c.JoinDone(ls)
}

// JoinDone tells the kernel a join may complete (it then waits for the lockspace's first
// recovery, which Start runs).
func (c ConfigFS) JoinDone(ls string) error {
	return c.write(filepath.Join(c.Sys, ls, "event_done"), "0")
}

// FailJoin fails a join the kernel waits for (it returns the error to the joiner, md-cluster,
// which fails the assembly) and removes what Prepare made. EAGAIN: the cause is the store or
// a peer, and the same mdadm command may work later.
func (c ConfigFS) FailJoin(ls string) error {
	err := c.write(filepath.Join(c.Sys, ls, "event_done"), "-"+strconv.Itoa(int(syscall.EAGAIN)))
	if rerr := c.removeSpace(ls); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// Leave answers a local leave: the kernel may go on, and the lockspace's directories go.
func (c ConfigFS) Leave(ls string) error {
	if err := c.write(filepath.Join(c.Sys, ls, "event_done"), "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return c.removeSpace(ls)
}

func (c ConfigFS) removeSpace(ls string) error {
	ids, err := c.Members(ls)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, id := range ids {
		if err := removeDir(filepath.Join(c.Cluster, "spaces", ls, "nodes", strconv.Itoa(id))); err != nil {
			return err
		}
	}
	// configfs removes the nodes default group with its parent and refuses an rmdir of it.
	_ = os.Remove(filepath.Join(c.Cluster, "spaces", ls, "nodes"))
	if err := removeDir(filepath.Join(c.Cluster, "spaces", ls)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Change stops lockspace ls, adds and removes members, and starts it again: the kernel runs
// recovery with the new member set.
func (c ConfigFS) Change(ls string, add, remove []int) error {
	if err := c.Stop(ls); err != nil {
		return err
	}
	if err := c.SetMembers(ls, add, remove); err != nil {
		return err
	}
	return c.Start(ls)
}

// Stop stops lockspace ls (control 0): its locking and any recovery in progress stop until
// Start.
func (c ConfigFS) Stop(ls string) error { return c.write(filepath.Join(c.Sys, ls, "control"), "0") }

// Start starts lockspace ls (control 1): the kernel recovers it with the configured members.
func (c ConfigFS) Start(ls string) error { return c.write(filepath.Join(c.Sys, ls, "control"), "1") }

// SetMembers adds and removes members of ls; do it while ls is stopped.
func (c ConfigFS) SetMembers(ls string, add, remove []int) error {
	for _, id := range add {
		if err := c.addMember(ls, id); err != nil {
			return err
		}
	}
	for _, id := range remove {
		err := removeDir(filepath.Join(c.Cluster, "spaces", ls, "nodes", strconv.Itoa(id)))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (c ConfigFS) addMember(ls string, id int) error {
	dir := filepath.Join(c.Cluster, "spaces", ls, "nodes", strconv.Itoa(id))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("controld: make %s: %w", dir, err)
	}
	if err := c.write(filepath.Join(dir, "nodeid"), strconv.Itoa(id)); err != nil {
		return err
	}
	return c.write(filepath.Join(dir, "weight"), "1")
}

// removeDir removes a configfs directory. configfs refuses rmdir of a directory that still
// holds attribute files only on ordinary file systems (the unit tests' stand-in), so those
// files are removed first there; on configfs their unlink fails harmlessly.
func removeDir(dir string) error {
	err := os.Remove(dir)
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("controld: %w", err)
	}
	if ents, rerr := os.ReadDir(dir); rerr == nil {
		for _, e := range ents {
			if !e.IsDir() {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
		if err = os.Remove(dir); err == nil {
			return nil
		}
	}
	return fmt.Errorf("controld: %w", err)
}

func listNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("controld: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func listIDs(dir string) ([]int, error) {
	names, err := listNames(dir)
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, n := range names {
		if id, err := strconv.Atoi(n); err == nil {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	return ids, nil
}
