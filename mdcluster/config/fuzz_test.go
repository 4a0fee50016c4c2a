package config

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// FuzzParse: any bytes give a configuration or one error, on one line, in bounded time; an
// accepted configuration validates again (parse leaves nothing for Validate to find). It fuzzes
// parse, not Parse: the file checks would read whatever paths the fuzzer invents.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../../scripts/mdclusterd.example.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{minimal, external + dog + exclusiveArray, controld,
		minimal + "lock_engine: {type: etcd-cluster, client_url: \"https://127.0.0.1:2379\", peers: [{name: n1, peer_url: \"https://10.0.0.1:2380\"}]}\n",
		"node: [\n", "node: {name: n1, id: 1}\ncluster: {name: c}\nleases: {ttl: 5m, watchdog_margin: 150s}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parse(bytes.NewReader(b))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans several lines: %q", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted, then invalid: %v", err)
		}
	})
}
