//go:build vm

package main

import "testing"

// TestNewDisk runs md-cluster's new-disk protocol on two guests, node 2 answering through the md
// package: a confirmed add must reach both nodes, a refused one neither (`make lab` first).
func TestNewDisk(t *testing.T) {
	for _, answer := range []string{"confirm", "nack"} {
		t.Run(answer, func(t *testing.T) {
			if err := captureNewDisk(t.TempDir(), answer); err != nil {
				t.Fatal(err)
			}
		})
	}
}
