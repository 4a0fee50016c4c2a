package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// kmsgRecords are kernel log records as /dev/kmsg prints them. The md-cluster lines are the
// lab's (Debian 6.1, a guest's console after a clustered RAID1 join), with the array UUID of the md0
// capture; md0 was joined twice, the latest join counts.
const kmsgRecords = `6,1021,13010938,-;md-cluster: Joined cluster a1000000-0000-0000-0000-000000000001 slot 1
6,1022,13011002,-;md/raid1:md0: active with 2 out of 2 mirrors
 SUBSYSTEM=block
 DEVICE=b9:0
6,1040,16635512,-;dlm: a1000000-0000-0000-0000-000000000001: generation 2 slots 2 1:1 2:2
6,1107,29242637,-;md-cluster: Joined cluster a1000000-0000-0000-0000-000000000001 slot 2
6,1108,29242700,-;md-cluster: Joined cluster 959e7203-a673-af03-c16c-7b76e86476b5 slot 1
`

func TestClusterSlotFromKernelLog(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "kmsg")
	if err := os.WriteFile(log, []byte(kmsgRecords), 0o644); err != nil {
		t.Fatal(err)
	}
	set := NewSet(testLogger(t)).AddMD(MDOptions{FS: newFS(t, captureRoot(t, 0)), KernelLog: log})
	want := `
# HELP mdcluster_md_cluster_local_slot Bitmap slot this node took when it joined the array's md-cluster (0-based, as the slot label of the bitmap figures), from the kernel log; absent once the log no longer holds the join message.
# TYPE mdcluster_md_cluster_local_slot gauge
mdcluster_md_cluster_local_slot{device="md0"} 1
`
	if err := testutil.GatherAndCompare(registry(t, set), strings.NewReader(want), "mdcluster_md_cluster_local_slot"); err != nil {
		t.Fatal(err)
	}
}

func TestParseSlotsIgnoresOthers(t *testing.T) {
	t.Parallel()
	got := parseSlots(strings.NewReader("6,1,1,-;md-cluster: Joined cluster x slot none\nmd-cluster: Joined cluster y slot 3\n6,2,2,-;md-cluster: Joined cluster z slot 0\n"))
	if len(got) != 0 {
		t.Fatalf("parseSlots = %v, want none", got)
	}
}
