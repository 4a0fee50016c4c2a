package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// reexecOnHUP runs the installed binary in place of this process when SIGHUP comes (systemctl
// reload; the package's postinst after an upgrade). The new binary gets the same arguments and
// the same PID, so systemd keeps the service. It is what a kill -9 and an immediate restart do,
// which the agent is built for: the session file in /run/mdcluster stays, the new process opens
// the watchdog first (the close at exec, without the magic character, made the kernel ping it
// once more, so the new process has a full watchdog timeout), resumes the session and adopts its
// leases; no array is stopped and nothing is handed over. A clean stop would instead stop every
// exclusive array not in use and hand it to another node. The new binary must accept the
// configuration first: if it refuses it, this process keeps running and says why.
func reexecOnHUP(ctx context.Context, hup <-chan os.Signal, cfgPath string, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		exe, err := os.Executable() // Go drops the " (deleted)" of a replaced binary
		if err == nil {
			err = checkNewBinary(ctx, exe, cfgPath)
		}
		if err != nil {
			log.Error("reload refused: the installed binary does not accept the configuration; this agent keeps running", "err", err)
			_, _ = daemon.SdNotify(false, "STATUS=reload refused: "+err.Error())
			continue
		}
		log.Info("reload: running the installed binary in place of this one (session, leases and arrays stay)", "binary", exe)
		_, _ = daemon.SdNotify(false, daemon.SdNotifyReloading)
		err = syscall.Exec(exe, os.Args, os.Environ())
		log.Error("reload: exec failed; this agent keeps running", "binary", exe, "err", err)
		_, _ = daemon.SdNotify(false, daemon.SdNotifyReady)
	}
}

// checkNewBinary runs `exe check-config cfgPath` with a time limit.
func checkNewBinary(ctx context.Context, exe, cfgPath string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, exe, "check-config", cfgPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s check-config %s: %w: %s", exe, cfgPath, err, out)
	}
	return nil
}
