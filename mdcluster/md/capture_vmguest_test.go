//go:build vmguest

package md

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The capture tests print real sysfs trees and uevents for testdata; scripts/vm/capture-md runs them
// in a lab guest with -md.capture and writes what they print between the markers.
var capture = flag.Bool("md.capture", false, "print sysfs trees and uevents for testdata")

const (
	captureBegin = "-----BEGIN MDCAPTURE %s-----"
	captureEnd   = "-----END MDCAPTURE %s-----"
)

// TestCaptureSysfs creates arrays of several kinds and prints, for each, /sys/block/mdN/md
// (regular files; of a member's block symlink only block/dev), /sys/block/mdN/dev and
// /proc/mdstat as txtar.
func TestCaptureSysfs(t *testing.T) {
	if !*capture {
		t.Skip("run with -md.capture")
	}
	d := guestDisks(t)
	S := func(md string) string { return "/sys/block/" + md + "/md/" }
	idle := func(md string) func() (bool, string) {
		return func() (bool, string) {
			// Right after mdadm --create, sync_action can read idle before the first sync starts.
			a, g, l := readSys(S(md)+"sync_action"), readSys(S(md)+"degraded"), readSys(S(md)+"last_sync_action")
			return a == "idle" && g == "0" && l != "none", a + " degraded=" + g + " last=" + l
		}
	}
	t.Run("raid1-bitmap", func(t *testing.T) {
		createArray(t, "/dev/md0", d[:2], "--uuid=a1000000:00000000:00000000:00000001 --level=1 --raid-devices=2 --bitmap=internal --size=65536")
		waitFor(t, "md0 resync", idle("md0"))
		dumpArray(t, "raid1-bitmap", "md0")
	})
	t.Run("raid5-nobitmap", func(t *testing.T) {
		createArray(t, "/dev/md1", d[:3], "--uuid=a5000000:00000000:00000000:00000002 --level=5 --raid-devices=3 --bitmap=none --chunk=64 --size=32768")
		waitFor(t, "md1 recovery", idle("md1"))
		dumpArray(t, "raid5-nobitmap", "md1")
	})
	t.Run("raid10", func(t *testing.T) {
		createArray(t, "/dev/md2", d[:4], "--uuid=a1000000:00000000:00000000:00000003 --level=10 --raid-devices=4 --bitmap=none --chunk=128 --size=32768")
		waitFor(t, "md2 resync", idle("md2"))
		dumpArray(t, "raid10", "md2")
	})
	t.Run("raid1-degraded", func(t *testing.T) {
		createArray(t, "/dev/md3", d[:2], "--uuid=a1000000:00000000:00000000:00000004 --level=1 --raid-devices=3 --bitmap=internal --size=32768", "missing")
		waitFor(t, "md3 idle", func() (bool, string) { a := readSys(S("md3") + "sync_action"); return a == "idle", a })
		sh(t, "mdadm /dev/md3 --fail "+d[1]+" 2>&1")
		vdb := S("md3") + "dev-" + filepath.Base(d[1]) + "/"
		waitFor(t, "failed member out of its slot", func() (bool, string) {
			s := readSys(vdb + "slot")
			return s == "none", s
		})
		dumpArray(t, "raid1-degraded", "md3")
	})
	t.Run("raid1-inactive", func(t *testing.T) {
		createArray(t, "/dev/md6", d[:2], "--uuid=a1000000:00000000:00000000:00000007 --level=1 --raid-devices=2 --bitmap=internal --assume-clean --size=16384")
		sh(t, "mdadm --stop /dev/md6 2>&1")
		// One of two members: mdadm --incremental assembles the array but cannot start it.
		sh(t, "mdadm --incremental "+d[0]+" 2>&1")
		var md string
		waitFor(t, "an inactive array", func() (bool, string) {
			for _, e := range readDirNames("/sys/block") {
				if readSys("/sys/block/"+e+"/md/array_state") == "inactive" {
					md = e
					return true, ""
				}
			}
			return false, "none inactive"
		})
		t.Cleanup(func() { destroyArray(t, "/dev/"+md, d[:2]) })
		dumpArray(t, "raid1-inactive", md)
	})
	// Slow resyncs: the system limit holds md at about 2 MB/s (restored at the end).
	old := readSys("/proc/sys/dev/raid/speed_limit_max")
	t.Cleanup(func() { os.WriteFile("/proc/sys/dev/raid/speed_limit_max", []byte(old), 0) })
	sh(t, "echo 2000 > /proc/sys/dev/raid/speed_limit_max")
	// A resync held at sync_max: frozen, given a window, unfrozen; only sync_speed varies.
	t.Run("raid1-resync-held", func(t *testing.T) {
		createArray(t, "/dev/md4", d[:2], "--uuid=a1000000:00000000:00000000:00000005 --level=1 --raid-devices=2 --bitmap=internal --size=65536")
		waitFor(t, "md4 resync under way", func() (bool, string) { a := readSys(S("md4") + "sync_action"); return a == "resync", a })
		sh(t, "echo frozen > "+S("md4")+"sync_action")
		waitFor(t, "md4 frozen", func() (bool, string) { a := readSys(S("md4") + "sync_action"); return a == "frozen", a })
		sh(t, "echo 65536 > "+S("md4")+"sync_max; echo 3000 > "+S("md4")+"sync_speed_max; echo idle > "+S("md4")+"sync_action")
		waitFor(t, "md4 resync held at sync_max", func() (bool, string) {
			c := readSys(S("md4") + "sync_completed")
			return c == "65536 / 131072", c
		})
		dumpArray(t, "raid1-resync-held", "md4")
	})
	t.Run("raid1-frozen", func(t *testing.T) {
		createArray(t, "/dev/md5", d[:2], "--uuid=a1000000:00000000:00000000:00000006 --level=1 --raid-devices=2 --bitmap=internal --size=65536")
		waitFor(t, "md5 resync under way", func() (bool, string) {
			c := readSys(S("md5") + "sync_completed")
			n, _ := strconv.Atoi(strings.Fields(c + " x")[0])
			return n > 0, c
		})
		sh(t, "echo frozen > "+S("md5")+"sync_action; echo 1500 > "+S("md5")+"sync_speed_min")
		sh(t, "echo 65536 > "+S("md5")+"sync_max; echo 1024 > "+S("md5")+"sync_min")
		waitFor(t, "md5 frozen", func() (bool, string) { a := readSys(S("md5") + "sync_action"); return a == "frozen", a })
		dumpArray(t, "raid1-frozen", "md5")
	})
}

func readDirNames(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// dumpArray prints md's sysfs tree and /proc/mdstat between capture markers.
func dumpArray(t *testing.T, name, md string) {
	t.Helper()
	var b strings.Builder
	add := func(path string) {
		data, err := os.ReadFile(path)
		if err != nil {
			return // write-only or refusing attributes are not part of the state
		}
		fmt.Fprintf(&b, "-- %s --\n%s", strings.TrimPrefix(path, "/"), data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	root := "/sys/block/" + md
	add(root + "/dev")
	var files []string
	err := filepath.WalkDir(root+"/md", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type()&fs.ModeSymlink != 0 && e.Name() == "block" {
			files = append(files, p+"/dev")
		} else if e.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	for _, f := range files {
		add(f)
	}
	add("/proc/mdstat")
	fmt.Printf("\n"+captureBegin+"\n%s"+captureEnd+"\n", name, b.String(), name)
}

// TestCaptureUevents prints every kernel uevent (raw, Go-quoted, one a line) seen while mdadm
// runs an md array's life and while md-cluster joins and leaves its DLM lockspace.
func TestCaptureUevents(t *testing.T) {
	if !*capture {
		t.Skip("run with -md.capture")
	}
	d := guestDisks(t)
	t.Run("md-lifecycle", func(t *testing.T) {
		got := recordUevents(t, func() {
			createArray(t, "/dev/md0", d[:2], "--uuid=a1000000:00000000:00000000:00000010 --level=1 --raid-devices=2 --bitmap=internal --size=16384")
			sh(t, "mdadm --wait /dev/md0; mdadm /dev/md0 --fail "+d[1]+" 2>&1; sleep 1; mdadm /dev/md0 --remove "+d[1]+" 2>&1")
			sh(t, "mdadm /dev/md0 --re-add "+d[1]+" 2>&1; mdadm --wait /dev/md0; true")
			destroyArray(t, "/dev/md0", d[:2])
		})
		printUevents("uevents-md-lifecycle", got)
	})
	t.Run("dlm-lockspace", func(t *testing.T) {
		// mdclusterd runs the kernel DLM (one node, embedded etcd): it answers the lockspace
		// uevents recorded here.
		sh(t, "/lab/mdcluster-solo.sh 2>&1")
		defer func() {
			if t.Failed() {
				out, _ := exec.Command("sh", "-c", "dmesg | tail -30; tail -30 /tmp/mdclusterd.log").CombinedOutput()
				t.Logf("dmesg and agent log:\n%s", out)
			}
		}()
		got := recordUevents(t, func() {
			createArray(t, "/dev/md0", d[:2], "--uuid=c1000000:00000000:00000000:00000011 --level=1 --raid-devices=2 --bitmap=clustered --nodes=2 --size=16384")
			sh(t, "mdadm --wait /dev/md0; true")
			destroyArray(t, "/dev/md0", d[:2])
		})
		printUevents("uevents-dlm-lockspace", got)
	})
}

// recordUevents listens on the kobject uevent netlink group while fn runs and returns the raw
// messages. It uses its own socket so the capture does not depend on the code under test.
func recordUevents(t *testing.T, fn func()) [][]byte {
	t.Helper()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		t.Fatal(err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		msgs [][]byte
		stop = make(chan struct{})
		done = make(chan error, 1)
	)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			switch {
			case err == nil:
				mu.Lock()
				msgs = append(msgs, append([]byte(nil), buf[:n]...))
				mu.Unlock()
				continue
			case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			default:
				done <- err
				return
			}
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
		}
	}()
	fn()
	time.Sleep(time.Second) // let the last events of fn arrive
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("uevent socket: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return msgs
}

func printUevents(name string, msgs [][]byte) {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(strconv.Quote(string(m)) + "\n")
	}
	fmt.Printf("\n"+captureBegin+"\n%s"+captureEnd+"\n", name, b.String(), name)
}
