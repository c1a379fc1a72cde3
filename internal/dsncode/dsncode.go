// Package dsncode recognises RFC 3463 enhanced status codes. It is a leaf
// shared by relaymaps (access and transport values), the queue and its
// deliverers.
package dsncode

import "strings"

// Valid reports whether s is an enhanced status code "c.sss.ddd" with class
// 2, 4 or 5 (RFC 3463: subject and detail up to three digits).
func Valid(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || strings.IndexByte("245", parts[0][0]) < 0 {
		return false
	}
	for _, p := range parts[1:] {
		if p == "" || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}
