package cli

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// interrupts catches SIGINT, SIGTERM and SIGHUP for the length of a
// guarded command. Dying on them, as Go does by default, would leave the
// leases the guard took with the agent (an admin lease held for an mdcadm
// that is gone blocks every later --grow). Instead:
//
//   - before mdadm runs, a signal ends the wait (the admin lock's) and the
//     guard gives back what it took and runs no mdadm;
//   - while mdadm runs, mdadm gets the same signal (each one mdcadm
//     catches, once). Ctrl-C's SIGINT thus reaches mdadm twice, from the
//     terminal and from mdcadm: mdadm either dies on the first or treats
//     both alike. mdcadm then waits for mdadm to exit, however long: it
//     never kills it harder, since mdadm may be in a reshape's critical
//     section. The leases then go back as after any mdadm failure.
type interrupts struct {
	ch     chan os.Signal
	done   chan struct{}
	cancel context.CancelFunc

	mu    sync.Mutex // never held across a signal send or mdadm
	first os.Signal
	child *os.Process
}

// catchInterrupts starts catching; cancel is called on the first signal.
// stop must be called when the command is over.
func catchInterrupts(cancel context.CancelFunc) *interrupts {
	in := &interrupts{ch: make(chan os.Signal, 4), done: make(chan struct{}), cancel: cancel}
	signal.Notify(in.ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go in.loop()
	return in
}

func (in *interrupts) loop() {
	for {
		select {
		case s := <-in.ch:
			in.mu.Lock()
			if in.first == nil {
				in.first = s
			}
			p := in.child
			in.mu.Unlock()
			in.cancel()
			if p != nil {
				p.Signal(s)
			}
		case <-in.done:
			return
		}
	}
}

// stop ends catching: a later signal has its default effect again.
func (in *interrupts) stop() {
	signal.Stop(in.ch)
	close(in.done)
}

// caught returns the first signal caught, or nil.
func (in *interrupts) caught() os.Signal {
	if in == nil {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.first
}

// started records mdadm's process (nil once it exited). A signal caught
// between the last check and the start is passed on now.
func (in *interrupts) started(p *os.Process) {
	if in == nil {
		return
	}
	in.mu.Lock()
	in.child = p
	s := in.first
	in.mu.Unlock()
	if p != nil && s != nil {
		p.Signal(s)
	}
}

// signalName is "SIGINT" for syscall.SIGINT.
func signalName(s os.Signal) string {
	if n, ok := s.(syscall.Signal); ok {
		if name := unix.SignalName(n); name != "" {
			return name
		}
	}
	return s.String()
}

// signalCode is the shell's exit code for death by s: 128 + its number.
func signalCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 1
}
