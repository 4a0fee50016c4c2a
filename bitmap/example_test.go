package bitmap

import (
	"errors"
	"fmt"
	"testing"
)

func ExampleReader_ReadBitmap() {
	// A 64 MiB v1.2 member of a 2-node clustered RAID1: slot 0 all dirty
	// (as mdadm --create leaves it), slot 1 with chunks 3-5 dirty.
	sb := testSuperblock()
	bsb := testBitmapSuper(BitmapVersionClustered, 2, 126976, 65536)
	all := make([]uint64, bsb.Chunks())
	for i := range all {
		all[i] = uint64(i)
	}
	dev := buildImage(&testing.T{}, 2, 131072, sb, bsb, map[int][]uint64{0: all, 1: {3, 4, 5}})

	r := NewReader(dev, int64(len(dev.buf)))
	found, minor, err := r.ProbeSuperblock()
	if err != nil {
		fmt.Println(err)
		return
	}
	bm, err := r.ReadBitmap(found)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("v1.%d %s, cluster %q, %d slots\n", minor, found.Name(), bm.Super.Name(), len(bm.Slots))
	for _, s := range bm.Slots {
		fmt.Printf("slot %d: %d of %d chunks dirty: %v\n", s.Index, s.Dirty, s.Chunks, s.Extents)
	}
	// Output:
	// v1.2 node1:md0, cluster "mdcluster", 2 slots
	// slot 0: 992 of 992 chunks dirty: [{0 126976}]
	// slot 1: 3 of 992 chunks dirty: [{384 768}]
}

func ExampleFieldError() {
	var bsb BitmapSuperblock
	b := encodeBitmapSuperblock(testBitmapSuper(4, 0, 1024, 0))
	err := bsb.UnmarshalBinary(b)
	var fe *FieldError
	fmt.Println(err)
	fmt.Println(errors.Is(err, ErrInvalidField), errors.As(err, &fe) && fe.Offset == 52)
	// Output:
	// bitmap: bitmap superblock field chunksize at offset 52: value 0 is not a power of two
	// true true
}
