//go:build vmguest

package fence

import (
	"os"
	"testing"
	"time"
)

// TestGuestWatchdogPetAndDisarm runs on the lab's real kernel with softdog: the node survives
// well past the timeout while it is petted, and the magic close disarms the watchdog.
func TestGuestWatchdogPetAndDisarm(t *testing.T) {
	w, err := OpenWatchdog("/dev/watchdog", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if w.Timeout() != 2*time.Second {
		t.Fatalf("driver timeout = %s, want 2s", w.Timeout())
	}
	for i := 0; i < 12; i++ { // 6 s, three timeouts
		if err := w.Pet(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := w.Disarm(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // disarmed: two timeouts pass and the node is still here
	if err := w.Pet(); err != ErrClosed {
		t.Fatalf("Pet after Disarm = %v, want ErrClosed", err)
	}
}

// TestGuestCrashWatchdogFires arms a 2 s watchdog, pets it once and abandons it. The node must be
// reset: the host-side scenario checks that the guest died. It is excluded from the plain guest
// suite (its name starts with TestGuestCrash).
func TestGuestCrashWatchdogFires(t *testing.T) {
	w, err := OpenWatchdog("/dev/watchdog", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w.Pet()
	os.Stdout.WriteString("watchdog armed and abandoned\n")
	w.Abandon()
	time.Sleep(60 * time.Second)
	t.Fatal("still alive 60 s after abandoning a 2 s watchdog")
}
