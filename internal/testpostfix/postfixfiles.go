package testpostfix

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// dirSpec is one directory that Postfix expects under queue_directory or
// data_directory, as its postfix-files(5) table ($meta_directory/
// postfix-files) describes it.
type dirSpec struct {
	base  string // "queue" or "data"
	rel   string // "" for the base directory itself, else e.g. "active"
	owner string // "$mail_owner", "root", ...
	group string // "$setgid_group", "-" (unchanged), ...
	mode  os.FileMode
}

// parsePostfixFiles extracts the queue and data directory entries from
// the text of a postfix-files table. Each entry is
// path:type:owner:group:mode[:flags]; entries for other paths or of
// other types are skipped. name is used in error messages.
func parsePostfixFiles(name, text string) ([]dirSpec, error) {
	var specs []dirSpec
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, ":")
		var base, rel string
		switch {
		case f[0] == "$queue_directory":
			base = "queue"
		case f[0] == "$data_directory":
			base = "data"
		case strings.HasPrefix(f[0], "$queue_directory/"):
			base, rel = "queue", strings.TrimPrefix(f[0], "$queue_directory/")
		default:
			continue
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("%s:%d: want path:type:owner:group:mode, got %q", name, i+1, line)
		}
		if f[1] != "d" {
			continue
		}
		if rel != "" && (!filepath.IsLocal(rel) || strings.Contains(rel, "$")) {
			return nil, fmt.Errorf("%s:%d: bad directory %q", name, i+1, f[0])
		}
		mode, err := strconv.ParseUint(f[4], 8, 32)
		if err != nil || mode > 0o777 {
			return nil, fmt.Errorf("%s:%d: bad mode %q", name, i+1, f[4])
		}
		if f[2] == "" || f[3] == "" {
			return nil, fmt.Errorf("%s:%d: empty owner or group", name, i+1)
		}
		specs = append(specs, dirSpec{base: base, rel: rel, owner: f[2], group: f[3], mode: os.FileMode(mode)})
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("%s: no queue directory entries", name)
	}
	return specs, nil
}
