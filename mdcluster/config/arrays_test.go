package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadArrays(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The rest of the file is not validated: an unknown key and a missing certificate do not hide the arrays.
	p := write("a.yaml", `node: {name: node1, id: 1, colour: blue}
lock_engine: {type: etcd-cluster, tls: {ca: /nonexistent/ca.crt}}
arrays:
  - {uuid: fd4485b9:5882c440:166d447e:b3049159, name: data, mode: exclusive, devices: [/dev/vda]}
  - {uuid: 4e657744:69736b43:6f6e6669:726d0001, name: shared, mode: clustered, devices: [/dev/vdb]}
`)
	got, err := ReadArrays(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []Array{
		{UUID: "fd4485b9:5882c440:166d447e:b3049159", Name: "data", Mode: ModeExclusive, Devices: []string{"/dev/vda"}},
		{UUID: "4e657744:69736b43:6f6e6669:726d0001", Name: "shared", Mode: ModeClustered, Devices: []string{"/dev/vdb"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("arrays (-want +got):\n%s", diff)
	}
	if _, err := ReadArrays(filepath.Join(dir, "absent.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v, want os.ErrNotExist", err)
	}
	for name, body := range map[string]string{
		"bad-yaml.yaml": "arrays: [\n",
		"bad-uuid.yaml": "arrays:\n  - {uuid: FD4485B9, name: x}\n",
	} {
		if _, err := ReadArrays(write(name, body)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSameUUID(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"fd4485b9:5882c440:166d447e:b3049159", "fd4485b9-5882-c440-166d-447eb3049159", true},
		{"fd4485b9:5882c440:166d447e:b3049159", "FD4485B95882C440166D447EB3049159", true},
		{"fd4485b9:5882c440:166d447e:b3049159", "fd4485b9-5882-c440-166d-447eb3049158", false},
		{"", "", false},
	} {
		if got := SameUUID(tc.a, tc.b); got != tc.want {
			t.Errorf("SameUUID(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
