package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// dlmTree unpacks testdata/dlm-<name>.tree, node 1's DLM configfs (config/) and sysfs (sys/)
// files as the VM scenario ClusterScrape captured them from Debian's 6.1 kernel, one
// "path<TAB>content" line each (MDCLUSTER_CAPTURE=$PWD make test-vm VM_RUN=ClusterScrape):
// "two-nodes" while both nodes ran the clustered RAID1, "after-crash" once node 2 had crashed
// and been removed.
func dlmTree(t *testing.T, name string) DLMOptions {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "dlm-"+name+".tree"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	o := DefaultDLMOptions(filepath.Join(root, "sys"))
	for _, ln := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		path, body, ok := strings.Cut(ln, "\t")
		if !ok {
			t.Fatalf("dlm-%s.tree: bad line %q", name, ln)
		}
		var full string
		if p, ok := strings.CutPrefix(path, "config/"); ok {
			full = filepath.Join(o.ConfigDir, p)
		} else if p, ok := strings.CutPrefix(path, "sys/"); ok {
			full = filepath.Join(o.SysDir, p)
		} else {
			t.Fatalf("dlm-%s.tree: %q is neither config/ nor sys/", name, path)
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

var dlmNames = []string{"mdcluster_dlm_cluster_info", "mdcluster_dlm_lockspace_info", "mdcluster_dlm_lockspace_member_info",
	"mdcluster_dlm_lockspace_members", "mdcluster_dlm_lockspace_recover_nodeid", "mdcluster_dlm_lockspace_recover_status",
	"mdcluster_scrape_collector_success"}

// TestDLM: md-cluster's lockspace (named after the array UUID) with both nodes, as node 1's
// kernel showed it during the resync.
func TestDLM(t *testing.T) {
	t.Parallel()
	reg := registry(t, NewSet(testLogger(t)).AddDLM(dlmTree(t, "two-nodes")))
	want := `
# HELP mdcluster_dlm_cluster_info The DLM cluster configured in configfs, by name; always 1.
# TYPE mdcluster_dlm_cluster_info gauge
mdcluster_dlm_cluster_info{cluster="mdlab"} 1
# HELP mdcluster_dlm_lockspace_info A kernel DLM lockspace this node has joined, with its global id; always 1.
# TYPE mdcluster_dlm_lockspace_info gauge
mdcluster_dlm_lockspace_info{id="2815178320",lockspace="5c4a9e00-6d65-7472-6963-730000000001"} 1
# HELP mdcluster_dlm_lockspace_member_info A node configured as a member of a lockspace in configfs, with its weight; always 1.
# TYPE mdcluster_dlm_lockspace_member_info gauge
mdcluster_dlm_lockspace_member_info{lockspace="5c4a9e00-6d65-7472-6963-730000000001",nodeid="1",weight="1"} 1
mdcluster_dlm_lockspace_member_info{lockspace="5c4a9e00-6d65-7472-6963-730000000001",nodeid="2",weight="1"} 1
# HELP mdcluster_dlm_lockspace_members Number of nodes configured as members of a lockspace in configfs.
# TYPE mdcluster_dlm_lockspace_members gauge
mdcluster_dlm_lockspace_members{lockspace="5c4a9e00-6d65-7472-6963-730000000001"} 2
# HELP mdcluster_dlm_lockspace_recover_nodeid Node id a lockspace's recovery waits for, from recover_nodeid; 0 when it waits for none.
# TYPE mdcluster_dlm_lockspace_recover_nodeid gauge
mdcluster_dlm_lockspace_recover_nodeid{lockspace="5c4a9e00-6d65-7472-6963-730000000001"} 2
# HELP mdcluster_dlm_lockspace_recover_status Recovery status bits of a lockspace as /sys/kernel/dlm/<lockspace>/recover_status shows them.
# TYPE mdcluster_dlm_lockspace_recover_status gauge
mdcluster_dlm_lockspace_recover_status{lockspace="5c4a9e00-6d65-7472-6963-730000000001"} 255
# HELP mdcluster_scrape_collector_success Whether a collector gathered its figures without error (1) or failed (0).
# TYPE mdcluster_scrape_collector_success gauge
mdcluster_scrape_collector_success{collector="dlm"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), dlmNames...); err != nil {
		t.Fatal(err)
	}
}

// TestDLMAfterCrash: the same lockspace on node 1 once node 2 crashed and the control plane
// removed it: one member left, and the lockspace keeps its id.
func TestDLMAfterCrash(t *testing.T) {
	t.Parallel()
	reg := registry(t, NewSet(testLogger(t)).AddDLM(dlmTree(t, "after-crash")))
	want := `
# HELP mdcluster_dlm_lockspace_info A kernel DLM lockspace this node has joined, with its global id; always 1.
# TYPE mdcluster_dlm_lockspace_info gauge
mdcluster_dlm_lockspace_info{id="2815178320",lockspace="5c4a9e00-6d65-7472-6963-730000000001"} 1
# HELP mdcluster_dlm_lockspace_member_info A node configured as a member of a lockspace in configfs, with its weight; always 1.
# TYPE mdcluster_dlm_lockspace_member_info gauge
mdcluster_dlm_lockspace_member_info{lockspace="5c4a9e00-6d65-7472-6963-730000000001",nodeid="1",weight="1"} 1
# HELP mdcluster_dlm_lockspace_members Number of nodes configured as members of a lockspace in configfs.
# TYPE mdcluster_dlm_lockspace_members gauge
mdcluster_dlm_lockspace_members{lockspace="5c4a9e00-6d65-7472-6963-730000000001"} 1
# HELP mdcluster_dlm_lockspace_recover_nodeid Node id a lockspace's recovery waits for, from recover_nodeid; 0 when it waits for none.
# TYPE mdcluster_dlm_lockspace_recover_nodeid gauge
mdcluster_dlm_lockspace_recover_nodeid{lockspace="5c4a9e00-6d65-7472-6963-730000000001"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mdcluster_dlm_lockspace_info",
		"mdcluster_dlm_lockspace_member_info", "mdcluster_dlm_lockspace_members", "mdcluster_dlm_lockspace_recover_nodeid"); err != nil {
		t.Fatal(err)
	}
}

// TestDLMAbsent: no DLM module, no configfs: nothing reported, no failure.
func TestDLMAbsent(t *testing.T) {
	t.Parallel()
	reg := registry(t, NewSet(testLogger(t)).AddDLM(DefaultDLMOptions(t.TempDir())))
	want := `
# HELP mdcluster_scrape_collector_success Whether a collector gathered its figures without error (1) or failed (0).
# TYPE mdcluster_scrape_collector_success gauge
mdcluster_scrape_collector_success{collector="dlm"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mdcluster_scrape_collector_success"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 2 {
		t.Fatalf("got %d samples (%v), want only the 2 scrape samples", n, err)
	}
}
