package scenario

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestGuideParses checks the README's operator's guide without VMs: every block says where it
// runs, and the lab steps are where TestDebianOperatorGuide expects them.
func TestGuideParses(t *testing.T) {
	steps := readmeGuide(t)
	var labs []string
	blocks := 0
	for _, st := range steps {
		if st.Lab != "" {
			labs = append(labs, st.Lab)
			continue
		}
		blocks++
		if len(st.Nodes) == 0 || strings.TrimSpace(st.Script) == "" {
			t.Errorf("README line %d: block without nodes or commands", st.Line)
		}
	}
	if strings.Join(labs, ",") != "crash node1,boot node1" || blocks < 10 {
		t.Errorf("%d blocks, lab steps %q", blocks, labs)
	}
}

// readmeGuide parses the operator's guide of the module's README.
func readmeGuide(t *testing.T) []GuideStep {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	steps, err := ParseGuide(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return steps
}
