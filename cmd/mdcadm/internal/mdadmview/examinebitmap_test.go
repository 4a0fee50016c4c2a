package mdadmview

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mdcluster.dev/bitmap"
)

func clusteredBitmap() *bitmap.Bitmap {
	m := member()
	s0 := *m.Bitmap
	s1 := s0
	s1.Events, s1.EventsCleared, s1.State = 21, 19, 2
	return &bitmap.Bitmap{
		Offset: 8192, Super: &s0, SlotBytes: 4096,
		Slots: []bitmap.Slot{
			{Index: 0, Offset: 8192, Super: &s0, Chunks: 992, Dirty: 992, Extents: []bitmap.Extent{{Start: 0, End: 126976}}},
			{Index: 1, Offset: 12288, Super: &s1, Chunks: 992, Dirty: 3, Extents: []bitmap.Extent{{Start: 0, End: 384}}},
		},
	}
}

const wantClusteredX = `        Filename : /dev/vdb
           Magic : 6d746962
         Version : 5
            UUID : 10d42f6e:50470313:e0146ae7:b4d871b2
       Chunksize : 64 KB
          Daemon : 5s flush period
      Write Mode : Normal
       Sync Size : 63488 (62.00 MiB 65.01 MB)
   Cluster nodes : 2
    Cluster name : mdcluster                                                       
       Node Slot : 0
          Events : 17
  Events Cleared : 15
           State : OK
          Bitmap : 992 bits (chunks), 992 dirty (100.0%)
       Node Slot : 1
          Events : 21
  Events Cleared : 19
           State : Out of date
          Bitmap : 992 bits (chunks), 3 dirty (0.3%)
`

const wantPlainX = `        Filename : /dev/vdb
           Magic : 6d746962
         Version : 4
            UUID : 10d42f6e:50470313:e0146ae7:b4d871b2
          Events : 17
  Events Cleared : 15
           State : OK
       Chunksize : 64 MB
          Daemon : 5s flush period
      Write Mode : Allow write behind, max 256
       Sync Size : 63488 (62.00 MiB 65.01 MB)
          Bitmap : 1 bits (chunks), 0 dirty (0.0%)
`

func TestExamineBitmapText(t *testing.T) {
	t.Run("clustered", func(t *testing.T) {
		var b bytes.Buffer
		if err := NewExamineBitmap("/dev/vdb", clusteredBitmap()).WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantClusteredX, b.String()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("plain", func(t *testing.T) {
		bm := clusteredBitmap()
		s := *bm.Super
		s.Version, s.Nodes, s.ChunkSize, s.WriteBehind = 4, 0, 64<<20, 256
		s.ClusterName = [64]byte{}
		bm.Super = &s
		bm.Slots = []bitmap.Slot{{Index: 0, Offset: 8192, Super: &s, Chunks: 1}}
		var b bytes.Buffer
		if err := NewExamineBitmap("/dev/vdb", bm).WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantPlainX, b.String()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("unreadable slot", func(t *testing.T) {
		bm := clusteredBitmap()
		bm.Slots[1] = bitmap.Slot{Index: 1, Offset: 12288, Err: errors.New("read bitmap slot 1: boom")}
		var b bytes.Buffer
		if err := NewExamineBitmap("/dev/vdb", bm).WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(b.String(), "(100.0%)\n   Unable to read bitmap on node: 1\n") {
			t.Errorf("got:\n%s", b.String())
		}
	})
	t.Run("percent rounding", func(t *testing.T) {
		for _, c := range []struct {
			dirty, bits uint64
			want        string
		}{{0, 0, "0.0%"}, {1, 3, "33.3%"}, {2, 3, "66.7%"}, {1, 2000, "0.1%"}, {1, 20000, "0.0%"}, {999, 1000, "99.9%"}, {9999, 10000, "100.0%"}} {
			bm := clusteredBitmap()
			bm.Slots[1].Dirty, bm.Slots[1].Chunks = c.dirty, c.bits
			var b bytes.Buffer
			_ = NewExamineBitmap("x", bm).WriteText(&b)
			if !strings.HasSuffix(b.String(), "dirty ("+c.want+")\n") {
				t.Errorf("%d of %d: got %q, want %s", c.dirty, c.bits, b.String()[strings.LastIndex(b.String(), "Bitmap"):], c.want)
			}
		}
	})
}

func TestExamineBitmapJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, NewExamineBitmap("/dev/vdb", clusteredBitmap())); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"cluster_name": "mdcluster"`, `"nodes": 2`, `"dirty_percent": 100`,
		`"dirty_extents": [`, `"start": 0`, `"end": 384`, `"state": "Out of date"`, `"sync_size_sectors": 126976`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b.String())
		}
	}
}

// putSuperblock writes sb at sector sb.SuperOffset of dev with its
// checksum computed.
func putSuperblock(dev []byte, sb *bitmap.Superblock) {
	b, _ := sb.MarshalBinary()
	binary.LittleEndian.PutUint32(b[216:], bitmap.Checksum(b))
	copy(dev[sb.SuperOffset*bitmap.SectorSize:], b)
}

// putBitmapSuper writes s at byte off of dev.
func putBitmapSuper(dev []byte, off int, s *bitmap.BitmapSuperblock) {
	le := binary.LittleEndian
	b := dev[off:]
	le.PutUint32(b[0:], s.Magic)
	le.PutUint32(b[4:], s.Version)
	copy(b[8:], s.UUID[:])
	le.PutUint64(b[24:], s.Events)
	le.PutUint64(b[32:], s.EventsCleared)
	le.PutUint64(b[40:], s.SyncSize)
	le.PutUint32(b[48:], s.State)
	le.PutUint32(b[52:], s.ChunkSize)
	le.PutUint32(b[56:], s.DaemonSleep)
	le.PutUint32(b[60:], s.WriteBehind)
	le.PutUint32(b[64:], s.SectorsReserved)
	le.PutUint32(b[68:], s.Nodes)
	copy(b[72:], s.ClusterName[:])
}

func TestLoadMemberEndToEnd(t *testing.T) {
	m := member()
	dev := make([]byte, m.DeviceSectors*bitmap.SectorSize)
	putSuperblock(dev, m.Super)
	putBitmapSuper(dev, 8192, m.Bitmap)
	putBitmapSuper(dev, 8192+4096, m.Bitmap)
	for i := 0; i < 124; i++ {
		dev[8192+256+i] = 0xff // slot 0 all dirty, as mdadm --create leaves it
	}
	dev[8192+4096+256] = 0x07 // slot 1: chunks 0-2

	r := bitmap.NewReader(bytes.NewReader(dev), int64(len(dev)))
	got, err := LoadMember(r, "/dev/vdb")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := NewExamine(got, utc).WriteText(&b, utc); err != nil {
		t.Fatal(err)
	}
	// Only the checksum differs from the hand-made member.
	want := strings.Replace(wantClusteredRAID1, "1234abcd", fmt.Sprintf("%x", got.Super.SBCsum), 1)
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("examine (-want +got):\n%s", diff)
	}

	bm, err := r.ReadBitmap(got.Super)
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := NewExamineBitmap("/dev/vdb", bm).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want = strings.Replace(wantClusteredX, "          Events : 21\n  Events Cleared : 19\n           State : Out of date",
		"          Events : 17\n  Events Cleared : 15\n           State : OK", 1)
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("examine-bitmap (-want +got):\n%s", diff)
	}
}

// TestGoldenFiles compares the rendering of each testdata image with the
// real mdadm's output captured next to it in the VM lab (see
// bitmap/testdata/README.md): NAME.examine.golden and
// NAME.examine-bitmap.golden hold mdadm's output for the device "DEVICE"
// (stdout and stderr) and a last line "rc=N". Times are in UTC.
func TestGoldenFiles(t *testing.T) {
	var imgs []string
	_ = filepath.WalkDir(filepath.Join("..", "..", "..", "..", "bitmap", "testdata"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".img.gz") {
			imgs = append(imgs, p)
		}
		return nil
	})
	n := 0
	for _, img := range imgs {
		base := strings.TrimSuffix(img, ".img.gz")
		var data []byte
		for _, kind := range []string{"examine", "examine-bitmap"} {
			raw, err := os.ReadFile(base + "." + kind + ".golden")
			if err != nil {
				continue
			}
			n++
			golden, rc := splitRC(string(raw))
			name, _ := filepath.Rel(filepath.Join("..", "..", "..", "..", "bitmap", "testdata"), base)
			t.Run(filepath.ToSlash(name)+"/"+kind, func(t *testing.T) {
				if data == nil {
					if data, err = gunzip(img); err != nil {
						t.Fatal(err)
					}
				}
				r := bitmap.NewReader(bytes.NewReader(data), int64(len(data)))
				got, err := renderGolden(r, kind)
				if rc != 0 {
					if err == nil {
						t.Fatalf("mdadm failed (rc=%d) but we rendered:\n%s", rc, got)
					}
					if errors.Is(err, bitmap.ErrNoBitmap) && !strings.Contains(golden, "doesn't have bitmap") {
						t.Errorf("our error %v; mdadm said %q", err, golden)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(golden, got); diff != "" {
					t.Errorf("%s (-mdadm +ours):\n%s", kind, diff)
				}
			})
		}
	}
	if n == 0 {
		t.Skip("no golden files from the real mdadm yet")
	}
}

// splitRC splits a golden file into mdadm's output and its exit code.
func splitRC(s string) (string, int) {
	i := strings.LastIndex(s, "rc=")
	if i < 0 || (i > 0 && s[i-1] != '\n') {
		return s, 0
	}
	rc, err := strconv.Atoi(strings.TrimSpace(s[i+3:]))
	if err != nil {
		return s, 0
	}
	return s[:i], rc
}

func renderGolden(r *bitmap.Reader, kind string) (string, error) {
	var b bytes.Buffer
	opt := Options{Location: time.UTC}
	if kind == "examine" {
		m, err := LoadMember(r, "DEVICE")
		if err != nil {
			return "", err
		}
		err = NewExamine(m, opt).WriteText(&b, opt)
		return b.String(), err
	}
	sb, _, err := r.ProbeSuperblock()
	if err != nil {
		return "", err
	}
	bm, err := r.ReadBitmap(sb)
	if err != nil {
		return "", err
	}
	err = NewExamineBitmap("DEVICE", bm).WriteText(&b)
	return b.String(), err
}
