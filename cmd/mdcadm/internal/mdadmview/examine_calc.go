package mdadmview

import (
	"fmt"
	"strings"

	"mdcluster.dev/bitmap"
)

// infoRole is the role getinfo_super1 uses: faulty when dev_number is
// outside dev_roles (role_from_sb says spare instead).
func infoRole(sb *bitmap.Superblock) uint16 {
	if sb.DevNumber >= sb.MaxDev || sb.DevNumber >= bitmap.MaxDevs || int(sb.DevNumber) >= len(sb.DevRoles) {
		return bitmap.RoleFaulty
	}
	return sb.DevRoles[sb.DevNumber]
}

func deviceRole(sb *bitmap.Superblock, fm uint32) string {
	role := sb.Role()
	switch {
	case role >= bitmap.RoleFaulty:
		return "spare"
	case role == bitmap.RoleJournal:
		return "Journal"
	case fm&bitmap.FeatureReplacement != 0:
		return fmt.Sprintf("Replacement device %d", role)
	}
	return fmt.Sprintf("Active device %d", role)
}

// maxStateSlots bounds the Array State line; mdadm has no bound, but
// raid_disks is at most bitmap.MaxDevs and delta_disks is garbage beyond.
const maxStateSlots = 2 * bitmap.MaxDevs

func arrayState(sb *bitmap.Superblock, level, deltaExtra uint32) (string, []string) {
	inconsistent := false
	var b strings.Builder
	n := uint64(sb.RaidDisks + deltaExtra)
	for d := uint64(0); d < min(n, maxStateSlots); d++ {
		cnt := 0
		for _, r := range sb.DevRoles {
			if uint64(r) == d {
				cnt++
			}
		}
		switch {
		case cnt == 2 && level > 0:
			b.WriteByte('R')
		case cnt == 1:
			b.WriteByte('A')
		case cnt == 0:
			b.WriteByte('.')
		default:
			b.WriteByte('?')
			inconsistent = true
		}
	}
	for _, r := range sb.DevRoles {
		if r <= bitmap.RoleMax && uint32(r) > sb.RaidDisks+deltaExtra {
			inconsistent = true
		}
	}
	if !inconsistent {
		return b.String(), nil
	}
	pairs := make([]string, len(sb.DevRoles))
	for d, r := range sb.DevRoles {
		if r >= bitmap.RoleFaulty {
			pairs[d] = fmt.Sprintf("%d:-", d)
		} else {
			pairs[d] = fmt.Sprintf("%d:%d", d, r)
		}
	}
	return b.String(), pairs
}

// unusedSpace is getinfo_super1's space_before and space_after.
func unusedSpace(sb *bitmap.Superblock, fm uint32, bms *bitmap.BitmapSuperblock, devSectors uint64) Space {
	var bitmapOffset, pplOffset int64
	var pplSize uint64
	if fm&bitmap.FeatureBitmapOffset != 0 {
		bitmapOffset = int64(sb.BitmapOffset)
	} else if fm&(bitmap.FeaturePPL|bitmap.FeatureMultiplePPLs) != 0 {
		pplOffset, pplSize = int64(sb.PPLOffset()), uint64(sb.PPLSize())
	}
	dataSize := sb.Size
	if sb.Level <= 0 {
		dataSize = sb.DataSize
	}
	so := sb.SuperOffset
	var sp Space
	if sb.DataOffset < so {
		sp.Before = sb.DataOffset
		end := so
		if sb.BBLogOffset != 0 && sb.BBLogSize != 0 {
			if bb := so + uint64(int64(sb.BBLogOffset)); bb < end {
				end = bb
			}
		}
		if x := so + uint64(bitmapOffset) + uint64(pplOffset); x < end {
			end = x
		}
		if sb.DataOffset+dataSize < end {
			sp.After = end - dataSize - sb.DataOffset
		}
	} else {
		earliest := so + (32+4)*2
		if bitmapOffset > 0 {
			// mdadm adds the bitmap size to bitmap_offset alone (not to
			// super_offset), with calc_bitmap_size's 32-bit result.
			size := uint64(uint32(bms.SlotBytes())) / 512
			if bmend := uint64(bitmapOffset) + size; bmend > earliest {
				earliest = bmend
			}
		} else if pplOffset > 0 {
			if pplend := uint64(pplOffset) + pplSize; pplend > earliest {
				earliest = pplend
			}
		}
		if sb.BBLogOffset != 0 && sb.BBLogSize != 0 {
			bbend := so + uint64(int64(sb.BBLogOffset)) + uint64(sb.BBLogSize)
			if bbend > earliest {
				earliest = bbend
			}
		}
		if earliest < sb.DataOffset {
			sp.Before = sb.DataOffset - earliest
		}
		sp.After = devSectors - dataSize - sb.DataOffset
	}
	if sp.Before == 0 && sp.After == 0 {
		sp.After = 1
	}
	if infoRole(sb) == bitmap.RoleJournal {
		sp.After = (devSectors - sb.DataOffset) % 8 // "journal uses all 4kB blocks"
	}
	return sp
}
