package scenario

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The lab's one reader of mdadm --examine-bitmap reads what mdadm printed for the bitmap
// package's golden images (scripts/vm/make-goldens.sh): a clustered bitmap slot by slot, a plain
// one as one slot, and only the Events and Bitmap lines the exporter scrape keeps.
func TestReadExamineBitmap(t *testing.T) {
	golden := func(image, dev string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "bitmap", "testdata", "images", image, dev+".examine-bitmap.golden"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	clustered := golden("clustered-raid1-4slots", "vda")
	x, err := readExamineBitmap(clustered)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := x.field("Cluster nodes"); err != nil || n != 4 {
		t.Errorf("Cluster nodes = %g, %v; want 4", n, err)
	}
	slots, err := x.clusterSlots()
	if err != nil {
		t.Fatal(err)
	}
	want := []bitmapSlot{{18, 63, 63}, {21, 63, 4}, {0, 63, 0}, {0, 63, 0}}
	if !reflect.DeepEqual(slots, want) {
		t.Errorf("slots = %v, want %v", slots, want)
	}
	if d, err := readDirty("/dev/vda", clustered); err != nil || !reflect.DeepEqual(d, []int{63, 4, 0, 0}) {
		t.Errorf("dirty = %v, %v; want [63 4 0 0]", d, err)
	}

	plain := golden("raid1-1.0-bitmap-dirty", "vda")
	x, err = readExamineBitmap(plain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.clusterSlots(); err == nil {
		t.Error("a bitmap without cluster slots has node slots")
	}
	if _, err := x.field("Cluster nodes"); err == nil {
		t.Error("a bitmap without cluster slots has a Cluster nodes field")
	}
	if got := x.only(); got != (bitmapSlot{18, 512, 512}) {
		t.Errorf("only slot = %v, want {18 512 512}", got)
	}
	if d, err := readDirty("/dev/vda", plain); err != nil || !reflect.DeepEqual(d, []int{512}) {
		t.Errorf("dirty = %v, %v; want [512]", d, err)
	}

	// The exporter scrape keeps only mdadm's Events and Bitmap lines (grep -E 'Events|Bitmap :').
	grepped := "          Events : 7\n  Events Cleared : 0\n          Bitmap : 63 bits (chunks), 5 dirty (7.9%)\n"
	if x, err := readExamineBitmap(grepped); err != nil || x.only() != (bitmapSlot{7, 63, 5}) {
		t.Errorf("grepped = %v, %v; want {7 63 5}", x.only(), err)
	}
	if x, err := readExamineBitmap(""); err != nil || x.only() != (bitmapSlot{}) {
		t.Errorf("no output = %v, %v; want a zero slot", x.only(), err)
	}
	if _, err := readDirty("/dev/vda", "mdadm: no bitmap"); err == nil {
		t.Error("no bitmap line, no error")
	}
	if _, err := readExamineBitmap("Bitmap : many bits"); err == nil {
		t.Error("a malformed Bitmap line reads")
	}
}
