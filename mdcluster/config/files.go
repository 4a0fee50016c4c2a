package config

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/prometheus/exporter-toolkit/web"
)

// CheckFiles checks the files the configuration names and the agent will read: they exist, are
// regular files of at most MaxFileSize, and parse. A problem found here at check-config time is
// one the agent would otherwise meet at start, or worse, at the first failover.
func (c *Config) CheckFiles() error {
	if err := c.LockEngine.checkTLSFiles(); err != nil {
		return err
	}
	if p := c.Listen.MetricsWebConfig; p != "" {
		if _, err := readFile(p); err != nil {
			return keyErr("listen.metrics_web_config", p, err.Error())
		}
		if err := web.Validate(p); err != nil {
			return keyErr("listen.metrics_web_config", p, oneLine(err.Error()))
		}
	}
	return nil
}

// readFile reads a regular file of at most MaxFileSize bytes: a device or a FIFO named by
// mistake must not hang check-config or fill its memory.
func readFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxFileSize)
	}
	return b, nil
}

// unwrapPathError drops the path from an *os.PathError: the key's message names it already.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
