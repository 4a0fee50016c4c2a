package scenario

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"mdcluster.dev/internal/vmlab"
)

// The README's operator's guide, run as written on three Debian guests. Each ```sh block of the
// section starts with a comment that says where it runs ("# on every node", "# on node1",
// "# on node2 and node3"); HTML comments between the blocks (<!-- lab: crash node1 -->) are the
// lab's own steps, invisible to the reader.

// GuideSection is the README section the scenario runs.
const GuideSection = "## Operator's guide"

// GuideStep is a block of commands and the nodes it runs on, or a lab step (Lab != "").
type GuideStep struct {
	Nodes  []int
	Script string
	Lab    string // "crash node1", "boot node1"
	Line   int    // in the README, for messages
}

var (
	whereRe = regexp.MustCompile(`^# on (every node|node\d(?: and node\d)*)\b`)
	labRe   = regexp.MustCompile(`^<!-- lab: (.+) -->$`)
)

// ParseGuide reads the section's steps from the README at path.
func ParseGuide(path string) ([]GuideStep, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	start := -1
	for i, ln := range lines {
		if strings.HasPrefix(ln, GuideSection) {
			start = i
		} else if start >= 0 && strings.HasPrefix(ln, "## ") {
			lines = lines[:i]
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("%s has no %q section", path, GuideSection)
	}
	var steps []GuideStep
	for i := start; i < len(lines); i++ {
		if m := labRe.FindStringSubmatch(lines[i]); m != nil {
			steps = append(steps, GuideStep{Lab: m[1], Line: i + 1})
			continue
		}
		if lines[i] != "```sh" {
			continue
		}
		end := i + 1
		for end < len(lines) && lines[end] != "```" {
			end++
		}
		if end == len(lines) || end == i+1 {
			return nil, fmt.Errorf("README line %d: unterminated or empty block", i+1)
		}
		m := whereRe.FindStringSubmatch(lines[i+1])
		if m == nil {
			return nil, fmt.Errorf("README line %d: a block must start with \"# on every node\" or \"# on nodeN\", not %q", i+2, lines[i+1])
		}
		st := GuideStep{Script: strings.Join(lines[i+2:end], "\n"), Line: i + 1}
		if m[1] == "every node" {
			st.Nodes = []int{1, 2, 3}
		} else {
			for _, n := range regexp.MustCompile(`\d`).FindAllString(m[1], -1) {
				k, _ := strconv.Atoi(n)
				st.Nodes = append(st.Nodes, k)
			}
		}
		steps = append(steps, st)
		i = end
	}
	return steps, nil
}

// scpRe is the guide's copy between nodes: the lab's guests have no ssh, so the host copies.
var scpRe = regexp.MustCompile(`^scp -r (\S+) node(\d):(\S+)$`)

// RunGuide runs the steps in order; a block "on every node" runs on the nodes at once (as with
// one terminal each), its lines in order on each. Every block runs with `set -e` from /root: a
// failing command fails the scenario. labStep performs the lab's own steps.
func RunGuide(ctx context.Context, l *vmlab.Lab, steps []GuideStep, labStep func(string) error) error {
	for _, st := range steps {
		if st.Lab != "" {
			l.Logf("README line %d: lab: %s", st.Line, st.Lab)
			if err := labStep(st.Lab); err != nil {
				return fmt.Errorf("README line %d: lab step %q: %w", st.Line, st.Lab, err)
			}
			continue
		}
		errs := make([]error, len(st.Nodes))
		var wg sync.WaitGroup
		for i, n := range st.Nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = runGuideBlock(ctx, l, n, st)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// runGuideBlock runs one block on node n, splitting it at the copies the host performs.
func runGuideBlock(ctx context.Context, l *vmlab.Lab, n int, st GuideStep) error {
	var chunk []string
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		script := "set -e\ncd /root\n" + strings.Join(chunk, "\n")
		chunk = nil
		r, err := l.Step(ctx, n, 5*time.Minute, fmt.Sprintf("README line %d", st.Line), script)
		for _, ln := range vmlab.Lines(r.Stdout + "\n" + r.Stderr) {
			l.Logf("node%d:   %s", n, ln)
		}
		return err
	}
	for _, ln := range strings.Split(st.Script, "\n") {
		m := scpRe.FindStringSubmatch(strings.TrimSpace(ln))
		if m == nil {
			chunk = append(chunk, ln)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		to, _ := strconv.Atoi(m[2])
		if err := copyTree(ctx, l, n, m[1], to, m[3]); err != nil {
			return fmt.Errorf("README line %d: %s: %w", st.Line, ln, err)
		}
	}
	return flush()
}

// copyTree copies directory src on node from to dst on node to (scp -r semantics: dst is the
// new directory), through the host: tar, base64 and back.
func copyTree(ctx context.Context, l *vmlab.Lab, from int, src string, to int, dst string) error {
	out, err := step(ctx, l, from, quick, "tar "+src, fmt.Sprintf("tar -C %s -cf - . | base64 -w0", src))
	if err != nil {
		return err
	}
	_, err = step(ctx, l, to, quick, "untar into "+dst, fmt.Sprintf("umask 077; mkdir -p %s && echo '%s' | base64 -d | tar -C %s -xf -", dst, out, dst))
	if err == nil {
		l.Logf("host: copied node%d:%s to node%d:%s (scp in the guide)", from, src, to, dst)
	}
	return err
}
