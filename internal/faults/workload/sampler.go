package workload

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"mdcluster.dev/internal/faults/wire"
)

// samplePeriod is how often md is looked at: the host checks the exclusive array is never
// active on two nodes from these samples, and requires one at least every 0.3 s.
const samplePeriod = 100 * time.Millisecond

// mdView is the last sample, for the writers to find their devices.
type mdView struct {
	mu  sync.Mutex
	act []wire.Active
}

func newMDView() *mdView { return &mdView{} }

// writable returns the md device running uuid in a state that takes writes, or "".
func (v *mdView) writable(uuid string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, a := range v.act {
		if a.UUID == uuid && a.State != "readonly" {
			return a.MD
		}
	}
	return ""
}

// sample reports the running md arrays every samplePeriod.
func (w *workload) sample(ctx context.Context) {
	t := time.NewTicker(samplePeriod)
	defer t.Stop()
	for {
		act := ActiveArrays("/sys/block")
		w.md.mu.Lock()
		w.md.act = act
		w.md.mu.Unlock()
		w.out.send(wire.Msg{Kind: wire.KindSample, Active: act})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ActiveArrays lists md arrays under a /sys/block directory that are neither inactive nor
// cleared. It reads two attributes per array, as cheaply as md allows.
func ActiveArrays(sysBlock string) []wire.Active {
	mds, _ := filepath.Glob(filepath.Join(sysBlock, "md*", "md", "array_state"))
	var out []wire.Active
	for _, p := range mds {
		st, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		state := strings.TrimSpace(string(st))
		if state == "" || state == "inactive" || state == "clear" {
			continue
		}
		dir := filepath.Dir(p)
		u, err := os.ReadFile(filepath.Join(dir, "uuid"))
		if err != nil {
			continue
		}
		out = append(out, wire.Active{UUID: strings.TrimSpace(string(u)), MD: filepath.Base(filepath.Dir(dir)), State: state})
	}
	return out
}

// forwardTokens sends every complete line the agent appends to its token log.
func (w *workload) forwardTokens(ctx context.Context) {
	var off int64
	t := time.NewTicker(samplePeriod)
	defer t.Stop()
	for {
		off = w.tokensFrom(off)
		select {
		case <-ctx.Done():
			w.tokensFrom(off)
			return
		case <-t.C:
		}
	}
}

func (w *workload) tokensFrom(off int64) int64 {
	f, err := os.Open(w.c.TokenLog)
	if err != nil {
		return off
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < off {
		off = 0 // the log was rotated
	}
	b, err := io.ReadAll(io.NewSectionReader(f, off, 1<<20))
	if err != nil {
		return off
	}
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return off
		}
		if line := b[:i]; json.Valid(line) {
			w.out.send(wire.Msg{Kind: wire.KindToken, Token: append(json.RawMessage(nil), line...)})
		}
		b, off = b[i+1:], off+int64(i)+1
	}
}
