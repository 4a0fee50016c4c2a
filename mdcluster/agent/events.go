package agent

import (
	"context"
	"time"

	"mdcluster.dev/mdcluster/md"
)

// watchUevents turns kernel uevents into reconcile passes, and answers md-cluster's new-disk
// requests at once (the kernel gives them only a few seconds).
func (a *Agent) watchUevents(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := md.NewWatcher()
		if err != nil {
			a.log.Error("uevent watcher", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
				continue
			}
		}
		a.readUevents(ctx, w)
		w.Close()
	}
}

func (a *Agent) readUevents(ctx context.Context, w *md.Watcher) {
	for {
		ev, err := w.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Error("read uevent", "err", err)
			}
			return
		}
		switch e := ev.(type) {
		case *md.NewDiskEvent:
			if err := a.confirmNewDisk(e); err != nil {
				a.log.Error("new-disk request", "md", e.Array, "err", err)
			}
			a.Kick()
		case *md.ArrayEvent:
			a.Kick()
		}
	}
}
