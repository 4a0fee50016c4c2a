package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// dlmTree writes a DLM sysfs and configfs tree in the layout of Debian's 6.1 kernel (see
// shared/docs/md-cluster-facts.md): md-cluster's lockspace (named after the array UUID) in
// recovery waiting for node 2, and mdadm's userspace lockspace, on a two-node cluster.
func dlmTree(t *testing.T) DLMOptions {
	t.Helper()
	root := t.TempDir()
	o := DefaultDLMOptions(filepath.Join(root, "sys"))
	md := "a1000000-0000-0000-0000-000000000001"
	files := map[string]string{
		"cluster_name":                           "mdlab",
		"spaces/" + md + "/nodes/1/nodeid":       "1\n",
		"spaces/" + md + "/nodes/1/weight":       "1\n",
		"spaces/" + md + "/nodes/2/nodeid":       "2\n",
		"spaces/" + md + "/nodes/2/weight":       "1\n",
		"spaces/mdlab/nodes/1/nodeid":            "1\n",
		"spaces/mdlab/nodes/1/weight":            "1\n",
		"../../../dlm/" + md + "/id":             "1776285034\n",
		"../../../dlm/" + md + "/recover_status": "1b\n",
		"../../../dlm/" + md + "/recover_nodeid": "2\n",
		"../../../dlm/mdlab/id":                  "3036126571\n",
		"../../../dlm/mdlab/recover_status":      "c3\n",
		"../../../dlm/mdlab/recover_nodeid":      "0\n",
	}
	for p, body := range files {
		full := filepath.Join(o.ConfigDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

func TestDLM(t *testing.T) {
	t.Parallel()
	reg := registry(t, NewSet(testLogger(t)).AddDLM(dlmTree(t)))
	want := `
# HELP mdcluster_dlm_cluster_info The DLM cluster configured in configfs, by name; always 1.
# TYPE mdcluster_dlm_cluster_info gauge
mdcluster_dlm_cluster_info{cluster="mdlab"} 1
# HELP mdcluster_dlm_lockspace_info A kernel DLM lockspace this node has joined, with its global id; always 1.
# TYPE mdcluster_dlm_lockspace_info gauge
mdcluster_dlm_lockspace_info{id="1776285034",lockspace="a1000000-0000-0000-0000-000000000001"} 1
mdcluster_dlm_lockspace_info{id="3036126571",lockspace="mdlab"} 1
# HELP mdcluster_dlm_lockspace_member_info A node configured as a member of a lockspace in configfs, with its weight; always 1.
# TYPE mdcluster_dlm_lockspace_member_info gauge
mdcluster_dlm_lockspace_member_info{lockspace="a1000000-0000-0000-0000-000000000001",nodeid="1",weight="1"} 1
mdcluster_dlm_lockspace_member_info{lockspace="a1000000-0000-0000-0000-000000000001",nodeid="2",weight="1"} 1
mdcluster_dlm_lockspace_member_info{lockspace="mdlab",nodeid="1",weight="1"} 1
# HELP mdcluster_dlm_lockspace_members Number of nodes configured as members of a lockspace in configfs.
# TYPE mdcluster_dlm_lockspace_members gauge
mdcluster_dlm_lockspace_members{lockspace="a1000000-0000-0000-0000-000000000001"} 2
mdcluster_dlm_lockspace_members{lockspace="mdlab"} 1
# HELP mdcluster_dlm_lockspace_recover_nodeid Node id a lockspace's recovery waits for, from recover_nodeid; 0 when it waits for none.
# TYPE mdcluster_dlm_lockspace_recover_nodeid gauge
mdcluster_dlm_lockspace_recover_nodeid{lockspace="a1000000-0000-0000-0000-000000000001"} 2
mdcluster_dlm_lockspace_recover_nodeid{lockspace="mdlab"} 0
# HELP mdcluster_dlm_lockspace_recover_status Recovery status bits of a lockspace as /sys/kernel/dlm/<lockspace>/recover_status shows them.
# TYPE mdcluster_dlm_lockspace_recover_status gauge
mdcluster_dlm_lockspace_recover_status{lockspace="a1000000-0000-0000-0000-000000000001"} 27
mdcluster_dlm_lockspace_recover_status{lockspace="mdlab"} 195
# HELP mdcluster_scrape_collector_success Whether a collector gathered its figures without error (1) or failed (0).
# TYPE mdcluster_scrape_collector_success gauge
mdcluster_scrape_collector_success{collector="dlm"} 1
`
	names := []string{"mdcluster_dlm_cluster_info", "mdcluster_dlm_lockspace_info", "mdcluster_dlm_lockspace_member_info",
		"mdcluster_dlm_lockspace_members", "mdcluster_dlm_lockspace_recover_nodeid", "mdcluster_dlm_lockspace_recover_status",
		"mdcluster_scrape_collector_success"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
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
