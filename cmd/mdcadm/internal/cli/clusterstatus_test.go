package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mdcluster.dev/mdcluster/api"
)

func TestClusterStatus(t *testing.T) {
	f := twoNodes()
	f.status.Leases = []api.Lease{{Array: "data", Kind: api.KindActivation, Holder: "node1", Token: 3}}
	f.status.Resyncs = []api.Resync{{Array: "data", Node: "node1", Action: "recover", Progress: 42}}
	env, errb, _ := guardEnv(t, f)
	var out strings.Builder
	env.Stdout = &out
	if err := os.MkdirAll(env.path("/sys/class/block/vda"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(env.path("/dev"), 0o755)
	img := env.path("/dev/vda")
	gunzipTo(t, filepath.Join("..", "..", "..", "..", "bitmap", "testdata", "images", "clustered-raid1-4slots", "vda.img.gz"), img)
	u, err := superUUID(img)
	if err != nil {
		t.Fatal(err)
	}
	f.status.Arrays[1].UUID = u
	if rc := Run([]string{"--cluster-status", "--json"}, env); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	var rep clusterReport
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(rep.Status.Members) != 2 || rep.Status.Leases[0].Holder != "node1" || len(rep.Bitmaps) != 1 {
		t.Fatalf("report = %+v", rep)
	}
	b := rep.Bitmaps[0]
	if b.Array != "mirror" || b.Member != img || len(b.Slots) != 4 || b.Error != "" {
		t.Fatalf("bitmap = %+v, want mirror's 4 slots read from %s", b, img)
	}
	out.Reset()
	if rc := Run([]string{"--cluster-status"}, env); rc != 0 {
		t.Fatalf("text: rc %d: %s", rc, errb.String())
	}
	for _, want := range []string{"node1", "node2", "activation held by node1 (token 3)", "recover  on node1: 42.0%", "Bitmap of mirror (read from " + img, "  slot 3: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text status lacks %q:\n%s", want, out.String())
		}
	}
	if rc := Run([]string{"--cluster-status", "--scan"}, env); rc != 2 {
		t.Errorf("--cluster-status --scan: rc %d, want 2", rc)
	}
}
