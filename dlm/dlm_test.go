package dlm

import (
	"errors"
	"strings"
	"testing"
)

// The standard DLM compatibility matrix, written out independently.
func TestCompatibleMatrix(t *testing.T) {
	want := map[Mode]string{ // modes compatible with the key, in NL..EX order
		NL: "NL CR CW PR PW EX",
		CR: "NL CR CW PR PW",
		CW: "NL CR CW",
		PR: "NL CR PR",
		PW: "NL CR",
		EX: "NL",
	}
	for a := NL; a <= EX; a++ {
		var got []string
		for b := NL; b <= EX; b++ {
			if Compatible(a, b) != Compatible(b, a) {
				t.Errorf("Compatible(%v, %v) not symmetric", a, b)
			}
			if Compatible(a, b) {
				got = append(got, b.String())
			}
		}
		if g := strings.Join(got, " "); g != want[a] {
			t.Errorf("%v compatible with %q, want %q", a, g, want[a])
		}
	}
	if Compatible(Mode(6), NL) {
		t.Error("invalid mode compatible")
	}
}

func TestCovers(t *testing.T) {
	for _, c := range []struct {
		a, b Mode
		want bool
	}{{EX, NL, true}, {EX, PR, true}, {PW, PR, true}, {PW, CW, true}, {PR, CW, false}, {CW, PR, false}, {PR, EX, false}, {CR, CR, true}} {
		if got := Covers(c.a, c.b); got != c.want {
			t.Errorf("Covers(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestParseModeAndOptions(t *testing.T) {
	for m := NL; m <= EX; m++ {
		if got, err := ParseMode(m.String()); err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseMode("XX"); !errors.Is(err, ErrInvalidMode) {
		t.Errorf("ParseMode(XX): %v", err)
	}
	if got := Mode(9).String(); got != "Mode(9)" {
		t.Errorf("Mode(9).String() = %q", got)
	}
	if o := ApplySessionOptions(); o.TTL != DefaultTTL {
		t.Errorf("default TTL %v", o.TTL)
	}
	if o := ApplySessionOptions(WithTTL(0)); o.TTL <= 0 {
		t.Errorf("WithTTL(0) gave %v", o.TTL)
	}
	if _, err := ApplyLockOptions(WithLVB(make([]byte, LVBLen+1))); !errors.Is(err, ErrLVBTooLong) {
		t.Errorf("long LVB: %v", err)
	}
	o, err := ApplyLockOptions(NoQueue(), WithLVB([]byte("x")))
	if err != nil || !o.NoQueue || string(o.LVB) != "x" {
		t.Errorf("options %+v, %v", o, err)
	}
	for _, name := range []string{"", strings.Repeat("r", MaxResourceLen+1)} {
		if err := CheckRequest(name, EX); !errors.Is(err, ErrInvalidResource) {
			t.Errorf("CheckRequest(%q): %v", name, err)
		}
	}
}

func TestSentinelsNamed(t *testing.T) {
	for _, err := range []error{ErrWouldBlock, ErrSessionExpired, ErrNoQuorum, ErrNotHeld, ErrStaleToken,
		ErrDeadlock, ErrCanceled, ErrInvalidMode, ErrInvalidResource, ErrLVBTooLong, ErrNotSupported, ErrClosed} {
		if !strings.HasPrefix(err.Error(), "dlm: ") {
			t.Errorf("sentinel %q does not start with \"dlm: \"", err)
		}
	}
}
