package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"mdcluster.dev/dlm"
)

// A start that fails before any session (the lock service or the DLM cannot be opened: a module
// not loaded, a configuration the system does not match) leaves nothing to protect unless a
// previous process of this boot recorded a session: the watchdog it armed first must be
// disarmed, or the node resets a few seconds later for a configuration problem (seen on the
// Debian guests: dlm_control mdclusterd without the dlm module, a reset loop). With a recorded
// session, or an exclusive array running here, it stays armed as before; and once the start
// found that a previous process may have left it armed over something, it stays armed even if
// that went away before the failure (it asked OpenWatchdog to keep it armed too).
func TestStartupFailureDisarmsUnlessProtected(t *testing.T) {
	boom := errors.New("lock service unreachable")
	for _, tc := range []struct {
		name       string
		record     bool
		running    bool
		stopped    bool // the array stops between the watchdog's opening and the failure
		wantDisarm bool
	}{
		{"fresh start, nothing running", false, false, false, true},
		{"a previous process recorded a session", true, false, false, false},
		{"an exclusive array runs here", false, true, false, false},
		{"an exclusive array ran at the start", false, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			a := c.agent("node1", 1, nil, t.TempDir(), raid5)
			a.openEngine = func(context.Context) (dlm.Engine, func(), error) {
				if tc.stopped {
					if err := a.md.Stop("md1"); err != nil {
						t.Fatal(err)
					}
				}
				return nil, nil, boom
			}
			keepArmed := false
			a.openWatchdog = func(_ time.Duration, armed bool) (Watchdog, string) { keepArmed = armed; return a.wd, "" }
			if tc.record {
				b, _ := json.Marshal(sessionRecord{Session: 42, BootID: a.paths.bootID(), DeadlineMono: monoNow() + 10e9})
				if err := os.WriteFile(a.paths.sessionFile(), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tc.running {
				a.md.load(t, captureOf[raid5.UUID])
			}
			err := a.Run(context.Background(), nil)
			if !errors.Is(err, boom) {
				t.Fatalf("Run: %v, want the engine's error", err)
			}
			if a.wd.disarmed != tc.wantDisarm || keepArmed == tc.wantDisarm {
				t.Fatalf("watchdog disarmed %v, want %v (opened asking to keep it armed: %v)", a.wd.disarmed, tc.wantDisarm, keepArmed)
			}
		})
	}
}
