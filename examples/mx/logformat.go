package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/mxkit/mxkit/internal/pflogfmt"
)

// newLogger returns the MX's logger: slog's text records, or Postfix's
// syslog lines (internal/pflogfmt).
func newLogger(w io.Writer, format, syslogName string, level slog.Level) (*slog.Logger, error) {
	switch format {
	case "slog", "":
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), nil
	case "postfix":
		return slog.New(pflogfmt.New(w, &pflogfmt.Options{SyslogName: syslogName, Level: level})), nil
	}
	return nil, fmt.Errorf("-log-format %q: want slog or postfix", format)
}
