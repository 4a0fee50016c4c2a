package dlm

import "fmt"

// Mode is a DLM lock mode. The numeric values are the kernel's
// (include/uapi/linux/dlmconstants.h: DLM_LOCK_NL 0 … DLM_LOCK_EX 5).
type Mode uint8

// The six DLM lock modes, weakest first.
const (
	// NL (null) grants nothing; it keeps the lock and its value block alive.
	NL Mode = 0
	// CR (concurrent read) allows others to read and write (except EX).
	CR Mode = 1
	// CW (concurrent write) allows others to write concurrently (NL, CR, CW).
	CW Mode = 2
	// PR (protected read) is a shared read lock (NL, CR, PR).
	PR Mode = 3
	// PW (protected write) allows only concurrent readers in CR.
	PW Mode = 4
	// EX (exclusive) excludes every mode but NL.
	EX Mode = 5
)

var modeNames = [...]string{"NL", "CR", "CW", "PR", "PW", "EX"}

// String returns the DLM name of the mode ("NL" … "EX").
func (m Mode) String() string {
	if m.Valid() {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Valid reports whether m is one of the six DLM modes.
func (m Mode) Valid() bool { return m <= EX }

// ParseMode returns the mode named s ("NL", "CR", "CW", "PR", "PW", "EX").
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if n == s {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrInvalidMode, s)
}

// compat is the standard DLM compatibility matrix, indexed [held][wanted].
var compat = [6][6]bool{
	//        NL     CR     CW     PR     PW     EX
	NL: {true, true, true, true, true, true},
	CR: {true, true, true, true, true, false},
	CW: {true, true, true, false, false, false},
	PR: {true, true, false, true, false, false},
	PW: {true, true, false, false, false, false},
	EX: {true, false, false, false, false, false},
}

// Compatible reports whether locks in modes a and b may be granted on the
// same resource at the same time. The relation is symmetric.
func Compatible(a, b Mode) bool {
	if !a.Valid() || !b.Valid() {
		return false
	}
	return compat[a][b]
}

// Covers reports whether holding a excludes at least every mode that b
// excludes, so converting from a to b can never be blocked (a down-
// conversion, or no change). PR and CW do not cover each other.
func Covers(a, b Mode) bool {
	for m := NL; m <= EX; m++ {
		if Compatible(a, m) && !Compatible(b, m) {
			return false
		}
	}
	return true
}

// WritesLVB reports whether a lock held in m may write the lock value block
// when it is down-converted or unlocked: only PW and EX may.
func (m Mode) WritesLVB() bool { return m == PW || m == EX }
