package workload

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mdcluster.dev/internal/faults/wire"
)

// ActiveArrays reports running arrays only, with md's sysfs UUID.
func TestActiveArrays(t *testing.T) {
	root := t.TempDir()
	for md, attrs := range map[string][2]string{
		"md127": {"clean", "6d646661-756c-7473-0000-000000000005"},
		"md126": {"inactive", "6d646661-756c-7473-0000-000000000010"},
		"md125": {"read-auto", "6d646661-756c-7473-0000-000000000011"},
	} {
		d := filepath.Join(root, md, "md")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "array_state"), []byte(attrs[0]+"\n"), 0o644)
		os.WriteFile(filepath.Join(d, "uuid"), []byte(attrs[1]+"\n"), 0o644)
	}
	want := []wire.Active{{UUID: "6d646661-756c-7473-0000-000000000011", MD: "md125", State: "read-auto"},
		{UUID: "6d646661-756c-7473-0000-000000000005", MD: "md127", State: "clean"}}
	if diff := cmp.Diff(want, ActiveArrays(root)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	v := &mdView{act: want}
	if v.writable("6d646661-756c-7473-0000-000000000011") != "md125" || v.writable("x") != "" {
		t.Error("writable")
	}
}
