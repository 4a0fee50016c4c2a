package faults

import (
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"mdcluster.dev/internal/faults/check"
)

// A seed reproduces a round's fault whatever ran before it, and draws every kind.
func TestDrawReproducible(t *testing.T) {
	seen := map[Kind]bool{}
	for r := 1; r <= 200; r++ {
		a, b := Draw(42, r, 10*time.Second, nil), Draw(42, r, 10*time.Second, nil)
		if a != b {
			t.Fatalf("round %d: %+v then %+v", r, a, b)
		}
		seen[a.Kind] = true
		if a.Kind == EtcdRestart && (a.Delay < 300*time.Millisecond || a.Delay > 10*time.Second/7) {
			t.Fatalf("etcd down for %s", a.Delay)
		}
	}
	if len(seen) != len(Kinds) {
		t.Fatalf("200 rounds drew %d kinds of %d", len(seen), len(Kinds))
	}
	if Draw(42, 7, time.Second, nil) == Draw(43, 7, time.Second, nil) && Draw(42, 8, time.Second, nil) == Draw(43, 8, time.Second, nil) {
		t.Fatal("two seeds draw the same schedule")
	}
	if f := Draw(1, 1, time.Second, []Kind{DiskFail}); f.Kind != DiskFail || f.Array == "" {
		t.Fatalf("restricted draw %+v", f)
	}
}

func TestMaxGap(t *testing.T) {
	s := int64(time.Second)
	if g := maxGap([]int64{1 * s, 2 * s, 9 * s, 10 * s}, 0, 12*s); g != 7*time.Second {
		t.Fatalf("gap %s", g)
	}
	if g := maxGap(nil, 0, 12*s); g != 0 {
		t.Fatalf("no ack: gap %s (the settle check reports it)", g)
	}
}

func kv(key string, val []byte, rev, lease int64) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{Key: []byte(key), Value: val, ModRevision: rev, CreateRevision: rev, Lease: lease}
}

// The host's view of the activation lease follows etcdlock's layout: a fast-path grant, its
// conversion, a waiter granted after the holder's lease expired.
func TestLockWatch(t *testing.T) {
	o := newObserver(time.Now(), nil, "", "")
	o.h = mustHistories(t)
	w := newLockWatch(o, 0, "/mdcluster/", "u")
	dir := "/mdcluster/dlm/act%2Fu/"
	put := func(k *mvccpb.KeyValue) { w.apply(&clientv3.Event{Type: clientv3.EventTypePut, Kv: k}) }
	del := func(key string, rev int64) {
		w.apply(&clientv3.Event{Type: clientv3.EventTypeDelete, Kv: &mvccpb.KeyValue{Key: []byte(key), ModRevision: rev}})
	}
	put(kv("/mdcluster/state/members/node1", []byte(`{"name":"node1","id":1,"session":17}`), 2, 17))
	put(kv(dir+"q/11.1", []byte{5, 1}, 3, 17)) // fast path, EX
	w.diff()
	put(kv(dir+"g/11.1", []byte{4, 0}, 4, 17)) // EX→PW
	w.diff()
	put(kv(dir+"q/22.1", []byte{5}, 5, 34)) // node2 waits
	w.diff()
	del(dir+"q/11.1", 9) // node1's lease expired
	del(dir+"g/11.1", 9)
	put(kv(dir+"g/22.1", []byte{5, 0}, 9, 34))
	w.diff()
	var got []string
	for _, op := range o.lockOps() {
		got = append(got, op.Op)
	}
	want := []string{check.OpAcquire, check.OpConvert, check.OpRelease, check.OpAcquire}
	if len(got) != len(want) {
		t.Fatalf("ops %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ops %v, want %v", got, want)
		}
	}
	ops := o.lockOps()
	if ops[0].Node != 1 || ops[0].Token != 3<<8 || ops[1].Token != 4<<8 || ops[3].Lease != 0x22 || ops[3].Token != 9<<8 {
		t.Fatalf("ops %+v", ops)
	}
}

func mustHistories(t *testing.T) *histories {
	h, err := openHistories(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	return h
}

// Guest lines become the host's records: md samples a timeline and reads of the lock history
// (the first and last of a run, one a second between), token-log lines events on the host clock
// mapped through the samples' monotonic stamps.
func TestObserver(t *testing.T) {
	start := time.Now()
	o := newObserver(start, mustHistories(t), "u5", "m5")
	const mono0 = int64(1000 * time.Second)
	line := func(at time.Duration, s string) { o.line(1, 1, start.Add(at), []byte(s)) }
	for i := 0; i < 40; i++ { // 4 s of samples, the array running from 1 s to 3 s
		act := ""
		if i >= 10 && i < 30 {
			act = `,"act":[{"u":"u5","md":"md127","st":"clean"}]`
		}
		at := time.Duration(i) * 100 * time.Millisecond
		line(at+2*time.Millisecond, `{"k":"sample","m":`+itoa(mono0+int64(at))+act+`}`)
	}
	line(4*time.Second, `{"k":"token","m":`+itoa(mono0+int64(4*time.Second))+`,"t":{"event":"assemble","array":"m5","token":7,"mono_ns":`+itoa(mono0+int64(time.Second))+`}}`)
	tls, _ := o.timelines()
	if sp := tls[0].ActiveSpans(); len(sp) != 1 || sp[0].Lo != int64(time.Second+2*time.Millisecond) || sp[0].Hi != int64(3*time.Second+2*time.Millisecond) {
		t.Fatalf("spans %+v", sp)
	}
	var holds, agent int
	for _, op := range o.lockOps() {
		switch op.Src {
		case "md":
			holds++
		case "agent":
			agent++
			if op.Token != 7 || op.At.Lo > int64(time.Second) || op.At.Hi < int64(time.Second+2*time.Millisecond) {
				t.Fatalf("token event at %+v", op.At)
			}
		}
	}
	if holds != 3 || agent != 1 {
		t.Fatalf("%d md reads (want first, one a second later, last), %d agent reads", holds, agent)
	}
	if ev := o.tokens(); len(ev) != 1 || ev[0].Event != "assemble" {
		t.Fatalf("token events %+v", ev)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestKernelPatterns(t *testing.T) {
	for _, l := range []string{
		"[   55.1] dlm: 6d646661-756c-7473-0000-000000000010: create_rcom to -22 type 4 len 172 ENOBUFS",
		"[   55.2] dlm: 6d646661-756c-7473-0000-000000000010: do_ls_recovery error -105",
	} {
		if !dlmFailed.MatchString(l) {
			t.Errorf("not a DLM recovery failure: %q", l)
		}
	}
	if m := kernelWarn.FindStringSubmatch("[ 55.4] WARNING: CPU: 0 PID: 9 at fs/dlm/requestqueue.c:47 dlm_add_requestqueue+0xe7/0xf0 [dlm]"); m == nil || m[1] != "fs/dlm/requestqueue.c:47" {
		t.Errorf("warning location %v", m)
	}
	if !slotDown.MatchString("md-cluster: mdlab Node 3/3 down. My slot: 2. Initiating recovery.") {
		t.Error("slot recovery line")
	}
}

// TestBoundFor: a disk failure on the clustered RAID10 may take a rebuild more than the other
// faults; the RAID5's member is re-added from its bitmap and gets no more.
func TestBoundFor(t *testing.T) {
	o := Options{}
	o.defaults()
	for _, c := range []struct {
		f    Fault
		want time.Duration
	}{
		{Fault{Kind: DiskFail, Array: r10.Tag}, o.bound() + o.RebuildBound},
		{Fault{Kind: DiskFail, Array: r5.Tag}, o.bound()},
		{Fault{Kind: Crash}, o.bound()},
	} {
		if got := o.boundFor(c.f); got != c.want {
			t.Errorf("boundFor(%s %s) = %s, want %s", c.f.Kind, c.f.Array, got, c.want)
		}
	}
}
