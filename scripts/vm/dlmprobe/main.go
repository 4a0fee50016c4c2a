// Command dlmprobe takes one lock through the kernel DLM user API and prints
// a JSON line for every event, for the VM tests of mdcluster.dev/dlm/kerneldlm:
//
//	dlmprobe -ls NAME -lock RES -mode EX -hold 5s -lvb TEXT
//
// Events: "granted" (mode, token, lvb), "bast" (wanted mode), "converted",
// "unlocked", "error". It holds the lock for -hold (or until the first
// blocking notice with -release-on-bast), writes -lvb on unlock from PW/EX,
// and exits 1 on any error. Build it static: CGO_ENABLED=0.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"mdcluster.dev/dlm"
	"mdcluster.dev/dlm/kerneldlm"
)

type event struct {
	Time     string `json:"time"`
	Event    string `json:"event"`
	Resource string `json:"resource,omitempty"`
	Mode     string `json:"mode,omitempty"`
	Token    uint64 `json:"token,omitempty"`
	LVB      string `json:"lvb,omitempty"`
	Error    string `json:"error,omitempty"`
}

func main() {
	ls := flag.String("ls", kerneldlm.DefaultLockspace, "lockspace name")
	res := flag.String("lock", "probe", "resource to lock")
	modeName := flag.String("mode", "EX", "lock mode: NL, CR, CW, PR, PW or EX")
	hold := flag.Duration("hold", 5*time.Second, "how long to hold the lock")
	lvb := flag.String("lvb", "", "value block to write on unlock (from PW/EX)")
	try := flag.Bool("try", false, "NOQUEUE: fail at once if not grantable")
	down := flag.String("down", "", "convert down to this mode after -hold, before unlocking")
	releaseOnBast := flag.Bool("release-on-bast", false, "stop holding at the first blocking notice")
	devDir := flag.String("dev", "/dev/misc", "directory of dlm-control and dlm_<lockspace>")
	timeout := flag.Duration("timeout", time.Minute, "how long to wait for the grant")
	flag.Parse()

	enc := json.NewEncoder(os.Stdout)
	emit := func(e event) {
		e.Time = time.Now().UTC().Format(time.RFC3339Nano)
		_ = enc.Encode(e)
	}
	if err := run(emit, *ls, *res, *modeName, *down, *lvb, *hold, *timeout, *try, *releaseOnBast, *devDir); err != nil {
		emit(event{Event: "error", Resource: *res, Error: err.Error()})
		os.Exit(1)
	}
}

func run(emit func(event), ls, res, modeName, downName, lvb string, hold, timeout time.Duration, try, releaseOnBast bool, devDir string) error {
	mode, err := dlm.ParseMode(modeName)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := kerneldlm.New(kerneldlm.WithLockspace(ls), kerneldlm.WithDeviceDir(devDir)).Open(ctx)
	if err != nil {
		return err
	}
	bast := make(chan dlm.Mode, 1)
	opts := []dlm.LockOption{dlm.WithBlockingNotice(func(m dlm.Mode) {
		emit(event{Event: "bast", Resource: res, Mode: m.String()})
		select {
		case bast <- m:
		default:
		}
	})}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	var l dlm.Lock
	if try {
		l, err = s.TryLock(lctx, res, mode, opts...)
	} else {
		l, err = s.Lock(lctx, res, mode, opts...)
	}
	cancel()
	if err != nil {
		return errors.Join(err, s.Close())
	}
	emit(event{Event: "granted", Resource: res, Mode: l.Mode().String(), Token: uint64(l.Token()), LVB: string(l.LVB())})
	t := time.NewTimer(hold)
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-bast:
		if !releaseOnBast {
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
	}
	t.Stop()
	uctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var lopts []dlm.LockOption
	if lvb != "" {
		lopts = append(lopts, dlm.WithLVB([]byte(lvb)))
	}
	if downName != "" {
		dm, err := dlm.ParseMode(downName)
		if err != nil {
			return errors.Join(err, s.Close())
		}
		if err := l.Convert(uctx, dm, lopts...); err != nil {
			return errors.Join(fmt.Errorf("convert: %w", err), s.Close())
		}
		emit(event{Event: "converted", Resource: res, Mode: l.Mode().String(), LVB: string(l.LVB())})
	}
	if err := l.Unlock(uctx, lopts...); err != nil {
		return errors.Join(fmt.Errorf("unlock: %w", err), s.Close())
	}
	emit(event{Event: "unlocked", Resource: res})
	return s.Close()
}
