package agent

import "mdcluster.dev/mdcluster/config"

// startFailed ends the guard of a start that failed before it had a session. The watchdog it
// opened stays armed whenever a previous process may have left it armed over something that
// still runs (keepArmed, decided before it was opened), or something here may still write now
// (a session is recorded this boot, see mayWriteAtStart); otherwise it is disarmed: a
// configuration problem (the dlm module not loaded, the lock service unreachable) must not reset
// the node, under systemd's restarts a few seconds later every time.
func (a *Agent) startFailed() {
	_, recorded := a.sm.readRecord()
	a.g.finish(!a.keepArmed && !recorded && !a.mayWriteAtStart())
}

// mayWriteAtStart reports whether this node may write where a lease is needed before any session
// of this process: an exclusive array of the configuration runs, a DLM lockspace is in use, or
// md or the DLM cannot be read.
func (a *Agent) mayWriteAtStart() bool {
	arrays, err := a.md.Arrays()
	if err != nil {
		return true
	}
	for _, ar := range arrays {
		if st := a.rec.array(mdadmUUID(ar.UUID)); ar.Level != "" && st != nil && st.cfg.Mode == config.ModeExclusive {
			return true
		}
	}
	ls, err := a.paths.lockspaces()
	return err != nil || len(ls) > 0
}
