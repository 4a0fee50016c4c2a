package vmlab

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
)

// agentPair starts a Guest on one end of a pipe and returns the host's end as a line reader and
// a request writer.
func agentPair(t *testing.T) (func(Request), func() Message, chan error) {
	t.Helper()
	host, guest := net.Pipe()
	t.Cleanup(func() { host.Close(); guest.Close() })
	done := make(chan error, 1)
	go func() { done <- NewGuest(7, guest).Serve(context.Background()) }()
	sc := bufio.NewScanner(host)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	send := func(r Request) {
		b, _ := json.Marshal(r)
		if _, err := host.Write(append(b, '\n')); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	recv := func() Message {
		host.SetReadDeadline(time.Now().Add(30 * time.Second))
		if !sc.Scan() {
			t.Fatalf("no message from the agent: %v", sc.Err())
		}
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("bad message %q: %v", sc.Text(), err)
		}
		return m
	}
	return send, recv, done
}

func TestGuestExec(t *testing.T) {
	send, recv, done := agentPair(t)
	if m := recv(); m.Event != "hello" || m.Node != 7 {
		t.Fatalf("first message = %+v, want hello from node 7", m)
	}
	send(Request{ID: 1, Op: OpExec, Script: "echo out; echo err >&2; echo $FOO; exit 3", Env: []string{"FOO=bar"}})
	m := recv()
	if m.ID != 1 || m.RC != 3 || m.Stdout != "out\nbar\n" || m.Stderr != "err\n" || m.Err != "" {
		t.Fatalf("exec reply = %+v", m)
	}
	send(Request{ID: 2, Op: OpExec, Script: "sleep 30", TimeoutMS: 200})
	if m := recv(); m.ID != 2 || m.RC != -1 || !strings.Contains(m.Err, "timed out") {
		t.Fatalf("timed-out exec reply = %+v", m)
	}
	send(Request{ID: 3, Op: "reboot"})
	if m := recv(); m.ID != 3 || !strings.Contains(m.Err, `unknown op "reboot"`) {
		t.Fatalf("unknown op reply = %+v", m)
	}
	send(Request{ID: 4, Op: OpPowerOff})
	if m := recv(); m.ID != 4 {
		t.Fatalf("power-off reply = %+v", m)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after power-off: %v", err)
	}
}

func TestGuestConcurrentRequests(t *testing.T) {
	send, recv, _ := agentPair(t)
	recv() // hello
	// A slow step must not hold up a quick one sent after it.
	send(Request{ID: 1, Op: OpExec, Script: "sleep 1; echo slow"})
	send(Request{ID: 2, Op: OpExec, Script: "echo quick"})
	first, second := recv(), recv()
	if first.ID != 2 || second.ID != 1 || second.Stdout != "slow\n" {
		t.Fatalf("replies in order %d, %d; want 2 then 1", first.ID, second.ID)
	}
}

func TestGuestBadLine(t *testing.T) {
	host, guest := net.Pipe()
	defer host.Close()
	go NewGuest(1, guest).Serve(context.Background())
	sc := bufio.NewScanner(host)
	sc.Scan() // hello
	host.Write([]byte("not json\n"))
	sc.Scan()
	var m Message
	if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m.Event != "error" || !strings.Contains(m.Err, "bad request line") {
		t.Fatalf("reply to a bad line = %q", sc.Text())
	}
}

func TestCappedOutput(t *testing.T) {
	var c capped
	c.Write(make([]byte, maxOutput-1))
	c.Write([]byte("abc"))
	if c.Len() != maxOutput || !strings.HasSuffix(c.String(), "[output cut]\n") {
		t.Fatalf("capped: len %d, suffix %q", c.Len(), c.String()[c.Len()-5:])
	}
}

// SIGTERM ends the guest agent even while it waits for the host's next request: a Debian
// guest's shutdown otherwise waited 90 s for it in systemd's last step.
func TestGuestServeEndsWithContext(t *testing.T) {
	host, guest := net.Pipe()
	defer host.Close()
	go func() { _, _ = bufio.NewReader(host).ReadString('\n') }() // the hello, then silence
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewGuest(1, guest).Serve(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after SIGTERM: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still reading the port 10 s after its context ended")
	}
}
