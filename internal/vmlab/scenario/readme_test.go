package scenario

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every VM test has its row in the README's table of what the VM suite shows.
func TestReadmeListsEveryScenario(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^func (Test\w+)\(t \*testing\.T\)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "//go:build vm") {
			continue
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if !strings.Contains(string(readme), "`"+m[1]+"`") {
				t.Errorf("README.md does not list %s (%s)", m[1], f)
			}
		}
	}
}
