// Command capture boots one VM lab guest, runs the md package's capture guest tests there
// (TestCapture* with -md.capture) and writes what they print into the package's testdata:
// <name>.txtar for each sysfs tree and uevents/<name>.txt for each uevent recording.
//
// Run it from the module root after `make lab` (which builds the guest test binary):
//
//	go run ./scripts/vm/capture-md -dir mdcluster/md/testdata
//
// With -newdisk confirm (or nack) it instead boots two guests running md-cluster RAID1, adds a
// disk on node 1, lets node 2 answer md-cluster's ADD_DEVICE request through the md package
// (TestCaptureNewDisk) and writes the request's uevent to uevents/cluster-newdisk-<answer>.txt.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// captureRE matches what dumpArray and printUevents print (capture_vmguest_test.go).
var captureRE = regexp.MustCompile(`(?s)-----BEGIN MDCAPTURE ([a-z0-9-]+)-----\n(.*?)-----END MDCAPTURE ([a-z0-9-]+)-----`)

func main() {
	dir := flag.String("dir", "mdcluster/md/testdata", "testdata directory to write")
	run := flag.String("run", "^TestCapture(Sysfs|Uevents)$", "guest tests to run (-test.run)")
	newDisk := flag.String("newdisk", "", "run the two-node new-disk scenario, answering confirm or nack")
	flag.Parse()
	var err error
	if *newDisk != "" {
		err = captureNewDisk(*dir, *newDisk)
	} else {
		err = capture(*dir, *run)
	}
	if err != nil {
		slog.Error("capture failed", "err", err)
		os.Exit(1)
	}
}

func capture(dir, run string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	l, err := vmlab.Start(ctx, "md-capture", vmlab.Options{Nodes: 1, Disks: 4, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer l.Close()
	// A failed run still writes the captures it printed, then reports the failure.
	r, runErr := l.Step(ctx, 1, 10*time.Minute, "md capture guest tests", guestTest(4, run, "-md.capture"))
	if err := writeCaptures(dir, r.Stdout); err != nil && runErr == nil {
		return err
	}
	return runErr
}

// guestTest is the command that runs the md package's guest test binary in a guest with disks.
func guestTest(disks int, run string, flags ...string) string {
	devs := []string{"/dev/vda", "/dev/vdb", "/dev/vdc", "/dev/vdd"}[:disks]
	return fmt.Sprintf("cd /tmp && MDLAB_GUEST=1 MDLAB_DISKS='%s' /lab/tests/mdcluster-md.test -test.v -test.count=1 "+
		"-test.timeout=9m -test.run '%s' %s 2>&1", strings.Join(devs, " "), run, strings.Join(flags, " "))
}

// writeCaptures writes every capture printed in out below dir.
func writeCaptures(dir, out string) error {
	found := captureRE.FindAllStringSubmatch(out, -1)
	if len(found) == 0 {
		return fmt.Errorf("no capture in the guest's output:\n%s", out)
	}
	for _, m := range found {
		name, body := m[1], m[2]
		if m[3] != name {
			return fmt.Errorf("capture %s ends as %s", name, m[3])
		}
		path := filepath.Join(dir, name+".txtar")
		if rest, ok := strings.CutPrefix(name, "uevents-"); ok {
			path = filepath.Join(dir, "uevents", rest+".txt")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			return err
		}
		slog.Info("wrote capture", "path", path, "bytes", len(body))
	}
	return nil
}
