package vmlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// maxFrame bounds one Ethernet frame on QEMU's socket netdev (jumbo frames included).
const maxFrame = 65536

// Hub is the guests' private Ethernet: an Ethernet hub on 127.0.0.1 speaking QEMU's socket
// netdev stream protocol (each frame is a 4-byte big-endian length and the frame). Every frame a
// guest sends goes to every other connected guest; nothing leaves the host's loopback.
type Hub struct {
	ln    net.Listener
	mu    sync.Mutex
	ports map[net.Conn]*hubPort
	// isolated MACs: frames from or to them are dropped (a cut cable).
	isolated map[[6]byte]bool
	wg       sync.WaitGroup
}

type hubPort struct {
	wmu sync.Mutex
	mac [6]byte
}

// NewHub listens on an ephemeral port of 127.0.0.1 and starts relaying.
func NewHub() (*Hub, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("hub: listen on loopback: %w", err)
	}
	h := &Hub{ln: ln, ports: map[net.Conn]*hubPort{}, isolated: map[[6]byte]bool{}}
	h.wg.Add(1)
	go h.accept()
	return h, nil
}

// Addr is the host:port QEMU connects to (-netdev socket,connect=Addr).
func (h *Hub) Addr() string { return h.ln.Addr().String() }

// Isolate cuts (on) or restores (off) the cable of the guest whose NIC has the given MAC.
func (h *Hub) Isolate(mac net.HardwareAddr, on bool) {
	var k [6]byte
	copy(k[:], mac)
	h.mu.Lock()
	defer h.mu.Unlock()
	if on {
		h.isolated[k] = true
	} else {
		delete(h.isolated, k)
	}
}

// Close stops the hub and drops every connection.
func (h *Hub) Close() error {
	err := h.ln.Close()
	h.mu.Lock()
	for c := range h.ports {
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
	return err
}

func (h *Hub) accept() {
	defer h.wg.Done()
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		h.mu.Lock()
		h.ports[c] = &hubPort{}
		h.mu.Unlock()
		h.wg.Add(1)
		go h.relay(c)
	}
}

func (h *Hub) relay(c net.Conn) {
	defer h.wg.Done()
	defer func() {
		h.mu.Lock()
		delete(h.ports, c)
		h.mu.Unlock()
		c.Close()
	}()
	buf := make([]byte, 4+maxFrame)
	for {
		if _, err := io.ReadFull(c, buf[:4]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(buf[:4])
		if n > maxFrame {
			return // not QEMU's protocol: drop the port
		}
		if _, err := io.ReadFull(c, buf[4:4+n]); err != nil {
			return
		}
		h.forward(c, buf[:4+n])
	}
}

func (h *Hub) forward(from net.Conn, frame []byte) {
	var src, dst [6]byte
	if len(frame) >= 4+12 {
		copy(dst[:], frame[4:10])
		copy(src[:], frame[10:16])
	}
	h.mu.Lock()
	h.ports[from].mac = src
	if h.isolated[src] {
		h.mu.Unlock()
		return
	}
	type target struct {
		c net.Conn
		p *hubPort
	}
	var out []target
	for c, p := range h.ports {
		if c == from || h.isolated[p.mac] {
			continue
		}
		out = append(out, target{c, p})
	}
	h.mu.Unlock()
	for _, t := range out {
		t.p.wmu.Lock()
		_, err := t.c.Write(frame)
		t.p.wmu.Unlock()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			t.c.Close()
		}
	}
}
