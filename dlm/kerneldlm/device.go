package kerneldlm

// device is a DLM misc device: the control device or a lockspace device.
// The real one is an open file (device_linux.go); tests use a fake.
type device interface {
	// Write sends one request and returns the kernel's return value: the
	// lock id of a new lock, the misc minor of a created lockspace, or 0.
	Write(req []byte) (int, error)
	// Read blocks until one result is queued and copies it into buf,
	// which must hold at least readBufLen bytes.
	Read(buf []byte) (int, error)
	// Close releases the device; on a lockspace device this drops every
	// lock taken through it. A blocked Read returns an error.
	Close() error
}

// opener opens the control device and lockspace devices.
type opener interface {
	// control opens /dev/misc/dlm-control (or the configured path).
	control() (device, error)
	// lockspace opens the device of the lockspace whose misc minor is
	// minor and whose name is name.
	lockspace(name string, minor int) (device, error)
}
