package kerneldlm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mdcluster.dev/dlm"
)

// hexRows decodes rows like "06 00 00 00 // comment".
func hexRows(t *testing.T, rows ...string) []byte {
	t.Helper()
	var b []byte
	for _, r := range rows {
		r, _, _ = strings.Cut(r, "//")
		d, err := hex.DecodeString(strings.ReplaceAll(r, " ", ""))
		if err != nil {
			t.Fatalf("bad hex row %q: %v", r, err)
		}
		b = append(b, d...)
	}
	return b
}

var allowUnexported = cmp.AllowUnexported(lockResult{})

func TestUnmarshalResult(t *testing.T) {
	zeros32 := strings.Repeat("00", 32)
	tests := []struct {
		name string
		in   []string
		want lockResult
		err  error
	}{{
		// Bytes the 6.1 kernel returned for the first EX grant with VALBLK
		// (castaddr token 0xca570001, lksb 0x15b00001), dlm-userapi.md.
		name: "first EX grant with LVB, seen on 6.1",
		in: []string{
			"06 00 00 00 00 00 00 00 02 00 00 00", // version 6.0.2
			"68 00 00 00",                         // length 104
			"01 00 57 ca 00 00 00 00",             // user_astaddr
			"01 00 00 00 00 00 00 00",             // user_astparam
			"01 00 b0 15 00 00 00 00",             // user_lksb
			"00 00 00 00",                         // sb_status 0
			"01 00 00 00",                         // sb_lkid 1
			"00 00 00 00 00 00 00 00",             // sb_flags + padding
			"00 00 00 00 00 00 00 00",             // sb_lvbptr
			"00 00 00 00",                         // bast_mode + unused
			"48 00 00 00",                         // lvb_offset 72
			zeros32,                               // LVB
		},
		want: lockResult{length: 104, astAddr: 0xca570001, astParam: 1, lksb: 0x15b00001, lkid: 1, lvbOffset: 72, lvb: make([]byte, 32)},
	}, {
		name: "node 2 grant carrying node 1's LVB",
		in: []string{
			"06 00 00 00 00 00 00 00 02 00 00 00 68 00 00 00",
			"01 00 57 ca 00 00 00 00 02 00 00 00 00 00 00 00",
			"02 00 b0 15 00 00 00 00 00 00 00 00 03 00 00 00",
			"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
			"00 00 00 00 48 00 00 00",
			"77 72 69 74 74 65 6e 2d 62 79 2d 6e 6f 64 65 31", // "written-by-node1"
			"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
		},
		want: lockResult{length: 104, astAddr: 0xca570001, astParam: 2, lksb: 0x15b00002, lkid: 3, lvbOffset: 72,
			lvb: append([]byte("written-by-node1"), make([]byte, 16)...)},
	}, {
		name: "blocking notice for EX, 72 bytes",
		in: []string{
			"06 00 00 00 00 00 00 00 02 00 00 00 48 00 00 00",
			"57 ba 00 00 00 00 00 00 01 00 00 00 00 00 00 00", // bastaddr token
			"01 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00",
			"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
			"05 00 00 00 00 00 00 00", // bast_mode EX, lvb_offset 0
		},
		want: lockResult{length: 72, astAddr: bastAddr, astParam: 1, lksb: 1, lkid: 1, bastMode: dlm.EX},
	}, {
		name: "NOQUEUE conflict: status -EAGAIN",
		in: []string{
			"06 00 00 00 00 00 00 00 02 00 00 00 48 00 00 00",
			"57 ca 00 00 00 00 00 00 07 00 00 00 00 00 00 00",
			"07 00 00 00 00 00 00 00 f5 ff ff ff 02 00 00 00", // status -11
			"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
			"00 00 00 00 00 00 00 00",
		},
		want: lockResult{length: 72, astAddr: castAddr, astParam: 7, lksb: 7, status: -11, lkid: 2},
	}, {
		name: "short",
		in:   []string{"06 00 00 00 00 00 00 00 02 00 00 00 48 00 00 00"},
		err:  errShortResult,
	}, {
		name: "version 5",
		in: []string{
			"05 00 00 00 00 00 00 00 02 00 00 00 48 00 00 00",
			strings.Repeat("00", 56),
		},
		err: errBadVersion,
	}, {
		name: "length says LVB, offset does not",
		in: []string{
			"06 00 00 00 00 00 00 00 02 00 00 00 68 00 00 00",
			strings.Repeat("00", 56), zeros32,
		},
		err: errBadLength,
	}, {
		name: "LVB announced but not read",
		in: []string{
			"06 00 00 00 00 00 00 00 02 00 00 00 68 00 00 00",
			strings.Repeat("00", 52), "48 00 00 00",
		},
		err: errBadLength,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got lockResult
			err := got.UnmarshalBinary(hexRows(t, tt.in...))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error: - want %v / - got %v", tt.err, err)
			}
			if tt.err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, allowUnexported); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarshalLockRequest(t *testing.T) {
	req := lockRequest{cmd: cmdLock, mode: dlm.EX, flags: lkfValBlk | lkfNoQueue, lkid: 0x11223344,
		castParam: 1, castAddr: 0xca570001, bastParam: 2, bastAddr: 0xba570001, lksb: 0x15b00001, name: "res"}
	copy(req.lvb[:], "lvb")
	want := hexRows(t,
		"06 00 00 00 00 00 00 00 02 00 00 00", // version 6.0.2
		"01 01 00 00",                         // cmd LOCK, is64bit, unused
		"05 03 00 00",                         // mode EX, namelen 3, unused
		"09 00 00 00",                         // flags VALBLK|NOQUEUE
		"44 33 22 11",                         // lkid
		"00 00 00 00",                         // parent
		"00 00 00 00 00 00 00 00",             // xid
		"00 00 00 00 00 00 00 00",             // timeout
		"01 00 00 00 00 00 00 00",             // castparam
		"01 00 57 ca 00 00 00 00",             // castaddr
		"02 00 00 00 00 00 00 00",             // bastparam
		"01 00 57 ba 00 00 00 00",             // bastaddr
		"01 00 b0 15 00 00 00 00",             // lksb
		"6c 76 62"+strings.Repeat("00", 29),   // lvb[32]
		"72 65 73",                            // name, no NUL
	)
	got, err := req.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != requestLen+3 {
		t.Fatalf("length %d, want %d", len(got), requestLen+3)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("request:\n- want % #x\n- got  % #x", want, got)
	}
	req.name = strings.Repeat("x", 65)
	if _, err := req.MarshalBinary(); !errors.Is(err, dlm.ErrInvalidResource) {
		t.Errorf("65-byte name: %v", err)
	}
}

func TestMarshalLockspaceRequest(t *testing.T) {
	req := lspaceRequest{cmd: cmdRemoveLockspace, flags: lsflgForceFree, name: "md0"}
	want := hexRows(t,
		"06 00 00 00 00 00 00 00 02 00 00 00",
		"05 01 00 00",                       // cmd REMOVE_LOCKSPACE, is64bit
		"02 00 00 00",                       // flags FORCEFREE
		"00 00 00 00",                       // minor
		"6d 64 30"+strings.Repeat("00", 93), // name, NUL padded to 120
	)
	got, err := req.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("request:\n- want % #x\n- got  % #x", want, got)
	}
	for _, name := range []string{"", strings.Repeat("n", 65)} {
		req.name = name
		if _, err := req.MarshalBinary(); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

func TestStatusErr(t *testing.T) {
	for status, want := range map[int32]error{0: nil, -11: dlm.ErrWouldBlock, -35: dlm.ErrDeadlock, -65537: dlm.ErrCanceled, -65538: nil} {
		if got := statusErr(status); !errors.Is(got, want) || (want == nil) != (got == nil) {
			t.Errorf("status %d: got %v, want %v", status, got, want)
		}
	}
	if err := statusErr(-5); err == nil || !strings.Contains(err.Error(), "-5") {
		t.Errorf("status -5: %v", err)
	}
}
