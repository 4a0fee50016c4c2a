package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"mdcluster.dev/internal/vmlab"
	"mdcluster.dev/internal/vmlab/scenario"
)

// stepFunc runs a step on node n that must succeed and returns its trimmed stdout.
type stepFunc func(n int, timeout time.Duration, what, script string) (string, error)

// captureNewDisk runs md-cluster's new-disk protocol on two guests whose kernel DLM mdclusterd
// runs: node 1 adds /dev/vdc to a clustered RAID1 with mdadm (ADD_NEW_DISK, MD_DISK_CLUSTER_ADD);
// node 2's agent answers the ADD_DEVICE uevent through the md package ("confirm": ADD_NEW_DISK
// with MD_DISK_CANDIDATE; "nack": node 2 cannot see /dev/vdc, CLUSTERED_DISK_NACK) while node 2
// runs the md package's TestCaptureNewDisk, which records the uevent and waits for the answer.
// It checks the outcome on both nodes and writes the captured request uevent below dir.
func captureNewDisk(dir, answer string) error {
	if answer != "confirm" && answer != "nack" {
		return fmt.Errorf("-newdisk %q: want confirm or nack", answer)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	l, err := vmlab.Start(ctx, "md-capture-newdisk", vmlab.Options{Nodes: 2, Disks: 4, UserNet: true, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer l.Close()
	port, stopEtcd, err := scenario.HostEtcd()
	if err != nil {
		return err
	}
	defer stopEtcd()
	var step stepFunc = func(n int, timeout time.Duration, what, script string) (string, error) {
		r, err := l.Step(ctx, n, timeout, what, script)
		return strings.TrimSpace(r.Stdout), err
	}
	if err := newDiskArray(ctx, l, port, step, answer); err != nil {
		return err
	}
	addOut, addErr, testOut, err := addWhileNode2Answers(ctx, l, step, answer)
	if err != nil {
		return err
	}
	if err := writeCaptures(dir, testOut); err != nil {
		return err
	}
	return addOutcome(l, step, answer, addOut, addErr)
}

// newDiskArray starts mdclusterd's control plane on both nodes, creates the clustered RAID1 on
// node 1 and assembles it read-write on node 2 (which, for a nack, does not see /dev/vdc).
func newDiskArray(ctx context.Context, l *vmlab.Lab, port int, step stepFunc, answer string) error {
	// mdclusterd runs the kernel DLM on both nodes; it manages no array, so the new-disk request
	// is left to the test on node 2.
	for n := 1; n <= 2; n++ {
		if err := scenario.StartControlPlane(ctx, l, n, port, 15*time.Second, 5*time.Second); err != nil {
			return err
		}
	}
	if _, err := step(1, 3*time.Minute, "create clustered RAID1",
		"mdadm --create /dev/md0 --run --uuid=c2000000:00000000:00000000:00000001 --metadata=1.2 --level=1 "+
			"--raid-devices=2 --bitmap=clustered --nodes=2 --size=16384 /dev/vda /dev/vdb 2>&1 && mdadm --wait /dev/md0; true"); err != nil {
		return err
	}
	// A peer cannot confirm a new disk on a read-auto md-cluster array (the ioctl waits for a
	// superblock write that needs the token the adding node holds, until the kernel's 20 s wait
	// ends). The agent leaves md_mod's start_ro alone, so node 2's array starts read-write.
	if _, err := step(2, 3*time.Minute, "assemble on node2, read-write",
		`mdadm --assemble /dev/md0 /dev/vda /dev/vdb 2>&1 && s=$(cat /sys/block/md0/md/array_state) && echo $s && [ "$s" != read-auto ]`); err != nil {
		return err
	}
	if answer == "nack" {
		// The agent finds the new member by its superblock's device UUID among the block devices
		// it can open: without the device node, node 2 cannot see the disk.
		if _, err := step(2, 30*time.Second, "hide /dev/vdc from node2", "rm /dev/vdc"); err != nil {
			return err
		}
	}
	return nil
}

// addWhileNode2Answers runs the guest test on node 2 that answers the new-disk request, and
// mdadm --add on node 1 once it listens; it returns the add's output and error and the test's
// output.
func addWhileNode2Answers(ctx context.Context, l *vmlab.Lab, step stepFunc, answer string) (addOut string, addErr error, testOut string, err error) {
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := l.Step(ctx, 2, 6*time.Minute, "node2's agent answers the new-disk request ("+answer+")",
			guestTest(4, "^TestCaptureNewDisk$", "-md.newdisk="+answer))
		done <- result{r.Stdout, err}
	}()
	// Start the add only once node2 listens (or report why its test ended early).
	for listening := false; !listening; {
		select {
		case res := <-done:
			return "", nil, "", fmt.Errorf("node2 stopped before the add: %v\n%s", res.err, res.out)
		case <-time.After(500 * time.Millisecond):
		}
		r, err := l.Node(2).Run(ctx, "test -e /tmp/md-newdisk-listening")
		if err != nil {
			return "", nil, "", err
		}
		listening = r.RC == 0
	}
	addOut, addErr = step(1, 2*time.Minute, "mdadm --add /dev/vdc on node1", "mdadm --manage /dev/md0 --add /dev/vdc 2>&1")
	res := <-done
	if res.err != nil {
		log, _ := step(2, 30*time.Second, "node2's agent log", "tail -40 /tmp/mdclusterd.log; dmesg | tail -20")
		return "", nil, "", fmt.Errorf("node2: %w\nnode2's agent log and kernel messages:\n%s", res.err, log)
	}
	return addOut, addErr, res.out, nil
}

// addOutcome requires both nodes' mdstat to agree with the answer: vdc added when confirmed,
// not when refused.
func addOutcome(l *vmlab.Lab, step stepFunc, answer, addOut string, addErr error) error {
	for n := 1; n <= 2; n++ {
		st, err := step(n, 30*time.Second, "mdstat", "cat /proc/mdstat")
		if err != nil {
			return err
		}
		has := strings.Contains(st, "vdc[")
		switch {
		case answer == "confirm" && (addErr != nil || !has):
			return fmt.Errorf("confirmed add: mdadm --add: %v %s; node%d mdstat:\n%s", addErr, addOut, n, st)
		case answer == "nack" && (addErr == nil || has):
			return fmt.Errorf("refused add: mdadm --add: %v %s; node%d mdstat:\n%s", addErr, addOut, n, st)
		}
	}
	l.Logf("new-disk %s: mdadm --add on node1: %v %s", answer, addErr, addOut)
	return nil
}
