package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ReadArrays reads only the arrays section of the file at path, without validating the rest:
// what the udev helper needs to keep mdadm's incremental assembly off the members of exclusive
// arrays even on a node whose configuration the agent would refuse (a certificate missing, a
// key misspelt), since such a node must not run them either. os.ErrNotExist when the file is
// absent (the node has no mdcluster configuration).
func ReadArrays(path string) ([]Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("config %s: larger than 1 MiB", path)
	}
	var doc struct {
		Arrays []Array `yaml:"arrays"`
	}
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %w", path, yamlError(err))
	}
	for i, a := range doc.Arrays {
		if !uuidRe.MatchString(a.UUID) {
			return nil, fmt.Errorf("config %s: %w", path, keyErr(fmt.Sprintf("arrays[%d].uuid", i), a.UUID, "want mdadm's form"))
		}
	}
	return doc.Arrays, nil
}

// SameUUID reports whether two spellings of an md UUID name the same array: mdadm's
// (8:8:8:8), blkid's (8-4-4-4-12) or plain hex, in either case.
func SameUUID(a, b string) bool {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer(":", "", "-", "").Replace(s))
	}
	na, nb := norm(a), norm(b)
	return len(na) == 32 && na == nb
}
