package wire

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBlockRoundTrip(t *testing.T) {
	w := Write{Array: "r10", Node: 2, Round: 7, Epoch: 3, Seq: 12345, Slot: 1023}
	b := make([]byte, BlockSize)
	w.Encode(b)
	got, empty, err := Decode(b)
	if err != nil || empty {
		t.Fatalf("Decode: %v empty=%v", err, empty)
	}
	if diff := cmp.Diff([]Write{w}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestBlockTornAndCorrupt(t *testing.T) {
	old := Write{Array: "r5", Node: 1, Round: 1, Epoch: 1, Seq: 10, Slot: 4}
	nw := old
	nw.Seq, nw.Round = 11, 2
	a, b := make([]byte, BlockSize), make([]byte, BlockSize)
	old.Encode(a)
	nw.Encode(b)
	torn := append(append([]byte{}, b[:3*SectorSize]...), a[3*SectorSize:]...)
	got, _, err := Decode(torn)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Write{nw, old}, got); diff != "" {
		t.Errorf("torn block (-want +got)\n%s", diff)
	}
	if _, empty, err := Decode(make([]byte, BlockSize)); err != nil || !empty {
		t.Errorf("zero block: empty=%v err=%v", empty, err)
	}
	bad := append([]byte{}, a...)
	bad[SectorSize+100] ^= 1
	if _, _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped bit: err = %v, want ErrCorrupt", err)
	}
	half := append([]byte{}, a...)
	clear(half[2*SectorSize : 3*SectorSize])
	if _, _, err := Decode(half); !errors.Is(err, ErrCorrupt) {
		t.Errorf("zero sector: err = %v, want ErrCorrupt", err)
	}
	moved := append([]byte{}, a...)
	copy(moved[SectorSize:2*SectorSize], a[:SectorSize])
	if _, _, err := Decode(moved); !errors.Is(err, ErrCorrupt) {
		t.Errorf("sector 0 copied to sector 1: err = %v, want ErrCorrupt", err)
	}
}

func FuzzDecode(f *testing.F) {
	b := make([]byte, BlockSize)
	Write{Array: "r10", Node: 1, Epoch: 1, Seq: 1}.Encode(b)
	f.Add(b)
	f.Add(make([]byte, BlockSize))
	f.Fuzz(func(t *testing.T, in []byte) {
		ws, empty, err := Decode(in)
		if err == nil && !empty && len(ws) == 0 {
			t.Fatal("a written block with no write")
		}
	})
}
