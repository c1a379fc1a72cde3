package dnsres

// ValidHostname is Postfix's valid_hostname: labels of letters, digits,
// '-' and '_', each 1–63 bytes, no label starting or ending with '-', at
// most 255 bytes, no trailing dot, and not all-numeric.
func ValidHostname(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	label, nonNumeric := 0, false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case isAlnum(c) || c == '_':
			label++
			if label > 63 {
				return false
			}
			if c < '0' || c > '9' {
				nonNumeric = true
			}
		case c == '.':
			if label == 0 || i == len(name)-1 {
				return false
			}
			label = 0
		case c == '-':
			label++
			if label == 1 || i == len(name)-1 || name[i+1] == '.' {
				return false
			}
		default:
			return false
		}
	}
	return nonNumeric
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
