package monitor

import "context"

// migrate moves a spare to a degraded array that has none from an array of the same spare group
// that is whole and has one (mdadm.conf's spare-group=), and reports MoveSpare.
func (m *Monitor) migrate(ctx context.Context) {
	for _, to := range m.list {
		t := to.st
		if t.Err != 0 || t.Active >= t.Raid || t.Spare != 0 || t.SpareGroup == "" {
			continue
		}
		for _, from := range m.list {
			f := from.st
			if from == to || f.Err != 0 || f.SpareGroup != t.SpareGroup || f.Active < f.Raid || f.Spare <= 0 {
				continue
			}
			dev := spareOf(f)
			if dev == "" || ctx.Err() != nil {
				continue
			}
			if m.MoveSpare(f.Dev, t.Dev, dev) {
				m.Alert.Send(Event{Name: "MoveSpare", Dev: t.Dev, Disc: f.Dev})
				break
			}
		}
	}
}

// spareOf names a spare of the array: a descriptor past its roles, in use, with no state bit.
func spareOf(st *ArrayState) string {
	for i := st.Raid; i < 4096; i++ {
		if st.DevID[i] != 0 && st.DevState[i] == 0 && st.DevName[i] != "" {
			return st.DevName[i]
		}
	}
	return ""
}
