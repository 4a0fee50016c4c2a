package benchvm

import (
	"strings"
	"testing"

	"mdcluster.dev/mdcluster/config"
)

// The guest's configurations are valid: a mistake here would only show after a VM boot.
func TestConfigs(t *testing.T) {
	r := &run{port: 2379}
	for _, embedded := range []bool{false, true} {
		c, err := config.Parse(strings.NewReader(r.config(embedded)))
		if err == nil {
			err = c.Validate()
		}
		if err != nil {
			t.Errorf("embedded=%v: %v\n%s", embedded, err, r.config(embedded))
		}
	}
}
