package vmlab

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

func frame(src byte, payload string) []byte {
	eth := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, PrivateMAC(int(src))...)
	eth = append(eth, 0x08, 0x00)
	eth = append(eth, payload...)
	b := make([]byte, 4, 4+len(eth))
	binary.BigEndian.PutUint32(b, uint32(len(eth)))
	return append(b, eth...)
}

func readFrame(t *testing.T, c net.Conn) ([]byte, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(c, b)
	return b, err
}

func dialHub(t *testing.T, h *Hub, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", h.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	// Wait until the hub has registered every port.
	for i := 0; i < 100; i++ {
		h.mu.Lock()
		k := len(h.ports)
		h.mu.Unlock()
		if k == n {
			return cs
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("hub did not register %d ports", n)
	return nil
}

func TestHubForwardsToOthers(t *testing.T) {
	h, err := NewHub()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	cs := dialHub(t, h, 3)
	f := frame(1, "hello")
	cs[0].Write(f)
	for _, c := range cs[1:] {
		got, err := readFrame(t, c)
		if err != nil || !bytes.Equal(got, f[4:]) {
			t.Fatalf("peer got %q, %v; want the frame", got, err)
		}
	}
	if got, err := readFrame(t, cs[0]); err == nil {
		t.Fatalf("sender got its own frame back: %q", got)
	}
}

func TestHubIsolate(t *testing.T) {
	h, err := NewHub()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	cs := dialHub(t, h, 2)
	// Let the hub learn node 2's MAC, then cut node 1.
	cs[1].Write(frame(2, "learn"))
	if _, err := readFrame(t, cs[0]); err != nil {
		t.Fatal(err)
	}
	h.Isolate(PrivateMAC(1), true)
	cs[0].Write(frame(1, "from-isolated"))
	if got, err := readFrame(t, cs[1]); err == nil {
		t.Fatalf("frame from an isolated node went through: %q", got)
	}
	cs[1].Write(frame(2, "to-isolated"))
	if got, err := readFrame(t, cs[0]); err == nil {
		t.Fatalf("frame reached an isolated node: %q", got)
	}
	h.Isolate(PrivateMAC(1), false)
	f := frame(1, "restored")
	cs[0].Write(f)
	if got, err := readFrame(t, cs[1]); err != nil || !bytes.Equal(got, f[4:]) {
		t.Fatalf("after restore got %q, %v", got, err)
	}
}

func TestHubDropsOversizedFrame(t *testing.T) {
	h, err := NewHub()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	cs := dialHub(t, h, 1)
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], maxFrame+1)
	cs[0].Write(hdr[:])
	cs[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := cs[0].Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("hub kept a port that sent a %d-byte frame: read err %v", maxFrame+1, err)
	}
}
