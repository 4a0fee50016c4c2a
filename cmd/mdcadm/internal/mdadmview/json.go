package mdadmview

import (
	"encoding/json"
	"io"
)

// WriteJSON writes v, an *Examine or *ExamineBitmap, as indented JSON.
// Times are RFC 3339 in the Location they were computed with; sizes are in
// the units their field names say.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
