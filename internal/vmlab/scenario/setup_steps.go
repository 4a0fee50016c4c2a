package scenario

// Steps and waits every scenario uses: run a guest step, compare, read md sysfs, wait for a
// sync, O_DIRECT reads and writes.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// Step timeouts (vmlab's).
const quick, slow = vmlab.StepQuick, vmlab.StepSlow

// step runs a step that must succeed and returns its trimmed stdout.
func step(ctx context.Context, l *vmlab.Lab, node int, timeout time.Duration, what, script string) (string, error) {
	r, err := l.Step(ctx, node, timeout, what, script)
	return strings.TrimSpace(r.Stdout), err
}

// expect fails unless got equals want, naming the check.
func expect(what, got, want string) error {
	if got != want {
		return fmt.Errorf("%s: got %q, want %q", what, got, want)
	}
	return nil
}

// sysfs reads one md sysfs attribute of an array.
func sysfs(ctx context.Context, l *vmlab.Lab, node int, md, attr string) (string, error) {
	return step(ctx, l, node, quick, "read "+md+"/md/"+attr, "cat /sys/block/"+md+"/md/"+attr)
}

// waitSync waits until md's sync_action is idle and the array is not degraded (or until the step
// times out), then returns the last sync action md ran.
func waitSync(ctx context.Context, l *vmlab.Lab, node int, md string) (string, error) {
	script := fmt.Sprintf(`S=/sys/block/%[1]s/md
i=0
while [ $i -lt 1200 ]; do
  a=$(cat $S/sync_action); d=$(cat $S/degraded)
  [ "$a" = idle ] && [ "$d" = 0 ] && { cat $S/last_sync_action; exit 0; }
  sleep 0.25; i=$((i+1))
done
echo "still $a degraded=$d" >&2; exit 1`, md)
	return step(ctx, l, node, slow, "wait for "+md+" sync to finish", script)
}

// odWrite writes text at offset with O_DIRECT on node.
func odWrite(ctx context.Context, l *vmlab.Lab, node int, dev string, off int64, text string) error {
	_, err := step(ctx, l, node, quick, fmt.Sprintf("O_DIRECT write %q at %s@%d", text, dev, off),
		fmt.Sprintf("mdlab odwrite %s %d %s", dev, off, text))
	return err
}

// odRead reads one block at offset with O_DIRECT on node and checks it holds want.
func odRead(ctx context.Context, l *vmlab.Lab, node int, dev string, off int64, want string) error {
	got, err := step(ctx, l, node, quick, fmt.Sprintf("O_DIRECT read %s@%d", dev, off),
		fmt.Sprintf("mdlab odread %s %d", dev, off))
	if err != nil {
		return err
	}
	return expect(fmt.Sprintf("node%d reads %s@%d", node, dev, off), got, want)
}

// wrapMdadm is a guest script that puts an mdadm in /tmp/wrap which logs its arguments to
// /tmp/mdadm-ran and runs the real one: with /tmp/wrap first in PATH, mdcadm runs it.
const wrapMdadm = `mkdir -p /tmp/wrap && rm -f /tmp/mdadm-ran && printf '#!/bin/sh\necho "$*" >> /tmp/mdadm-ran\nexec /sbin/mdadm "$@"\n' > /tmp/wrap/mdadm && chmod +x /tmp/wrap/mdadm
`

// readWrite switches an array that start_ro left read-auto to read-write.
func readWrite(ctx context.Context, l *vmlab.Lab, node int, md string) error {
	_, err := step(ctx, l, node, quick, md+" read-write",
		fmt.Sprintf(`[ "$(cat /sys/block/%[1]s/md/array_state)" = read-auto ] && mdadm --readwrite /dev/%[1]s; cat /sys/block/%[1]s/md/array_state`, md))
	return err
}
