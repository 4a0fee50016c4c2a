package metrics

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// DLMOptions configures the DLM collector. Both roots are settable so tests read captures.
type DLMOptions struct {
	// SysDir is the kernel DLM's sysfs directory, "/sys/kernel/dlm": one directory per
	// lockspace with id, recover_status and recover_nodeid.
	SysDir string
	// ConfigDir is the DLM's configfs cluster directory, "/sys/kernel/config/dlm/cluster":
	// cluster_name and spaces/<lockspace>/nodes/<nodeid>.
	ConfigDir string
}

// DefaultDLMOptions returns the running kernel's DLM directories below a sysfs mount point.
func DefaultDLMOptions(sysfs string) DLMOptions {
	return DLMOptions{SysDir: filepath.Join(sysfs, "kernel", "dlm"),
		ConfigDir: filepath.Join(sysfs, "kernel", "config", "dlm", "cluster")}
}

var (
	dlmLSDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "dlm", "lockspace_info"),
		"A kernel DLM lockspace this node has joined, with its global id; always 1.", []string{"lockspace", "id"}, nil)
	dlmRecoverStatusDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "dlm", "lockspace_recover_status"),
		"Recovery status bits of a lockspace as /sys/kernel/dlm/<lockspace>/recover_status shows them.", []string{"lockspace"}, nil)
	dlmRecoverNodeDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "dlm", "lockspace_recover_nodeid"),
		"Node id a lockspace's recovery waits for, from recover_nodeid; 0 when it waits for none.", []string{"lockspace"}, nil)
	dlmMembersDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "dlm", "lockspace_members"),
		"Number of nodes configured as members of a lockspace in configfs.", []string{"lockspace"}, nil)
	dlmMemberDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "dlm", "lockspace_member_info"),
		"A node configured as a member of a lockspace in configfs, with its weight; always 1.", []string{"lockspace", "nodeid", "weight"}, nil)
	dlmClusterDesc = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "dlm", "cluster_info"),
		"The DLM cluster configured in configfs, by name; always 1.", []string{"cluster"}, nil)
)

type dlmCollector struct {
	o   DLMOptions
	log *slog.Logger
}

// AddDLM adds the DLM collector ("dlm") to the set.
func (s *Set) AddDLM(o DLMOptions) *Set {
	return s.add("dlm", &dlmCollector{o: o, log: s.log.With("collector", "dlm")})
}

func (c *dlmCollector) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dlmLSDesc, dlmRecoverStatusDesc, dlmRecoverNodeDesc, dlmMembersDesc, dlmMemberDesc, dlmClusterDesc} {
		ch <- d
	}
}

func (c *dlmCollector) update(ch chan<- prometheus.Metric) error {
	name, ok, err := readTrimmed(filepath.Join(c.o.ConfigDir, "cluster_name"))
	if err != nil {
		return fmt.Errorf("dlm collector: %w", err)
	}
	if ok {
		gauge(ch, dlmClusterDesc, 1, name)
	}
	spaces, err := subdirs(c.o.SysDir)
	if errors.Is(err, fs.ErrNotExist) {
		if !ok {
			return fmt.Errorf("%w: no DLM: %v", ErrNoData, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("dlm collector: %w", err)
	}
	for _, ls := range spaces {
		if err := c.lockspace(ch, ls); err != nil {
			return err
		}
	}
	return nil
}

// lockspace reports one lockspace; one that vanishes while it is read is left out.
func (c *dlmCollector) lockspace(ch chan<- prometheus.Metric, ls string) error {
	dir := filepath.Join(c.o.SysDir, ls)
	id, ok, err := readTrimmed(filepath.Join(dir, "id"))
	if err != nil || !ok {
		return err
	}
	gauge(ch, dlmLSDesc, 1, ls, id)
	// The kernel prints recover_status in hexadecimal without a prefix, recover_nodeid in decimal.
	for _, f := range []struct {
		file string
		base int
		desc *prometheus.Desc
	}{{"recover_status", 16, dlmRecoverStatusDesc}, {"recover_nodeid", 10, dlmRecoverNodeDesc}} {
		v, ok, err := readUint(filepath.Join(dir, f.file), f.base)
		if err != nil {
			return fmt.Errorf("dlm collector: lockspace %s: %w", ls, err)
		}
		if ok {
			gauge(ch, f.desc, float64(v), ls)
		}
	}
	nodesDir := filepath.Join(c.o.ConfigDir, "spaces", ls, "nodes")
	nodes, err := subdirs(nodesDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // not configured (yet): the control daemon adds members after the join uevent
	}
	if err != nil {
		return fmt.Errorf("dlm collector: lockspace %s: %w", ls, err)
	}
	gauge(ch, dlmMembersDesc, float64(len(nodes)), ls)
	for _, n := range nodes {
		nodeid, _, err := readTrimmed(filepath.Join(nodesDir, n, "nodeid"))
		if err != nil {
			return fmt.Errorf("dlm collector: lockspace %s: node %s: %w", ls, n, err)
		}
		if nodeid == "" {
			nodeid = n
		}
		weight, _, err := readTrimmed(filepath.Join(nodesDir, n, "weight"))
		if err != nil {
			return fmt.Errorf("dlm collector: lockspace %s: node %s: %w", ls, n, err)
		}
		gauge(ch, dlmMemberDesc, 1, ls, nodeid, weight)
	}
	return nil
}

// subdirs lists the directories in dir, sorted.
func subdirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// readTrimmed returns a file's trimmed text, or false when it does not exist.
func readTrimmed(path string) (string, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return strings.TrimSpace(string(b)), true, nil
}

// readUint reads a number in the given base from a file.
func readUint(path string, base int) (uint64, bool, error) {
	s, ok, err := readTrimmed(path)
	if err != nil || !ok {
		return 0, ok, err
	}
	v, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s: malformed number %q", filepath.Base(path), s)
	}
	return v, true, nil
}
