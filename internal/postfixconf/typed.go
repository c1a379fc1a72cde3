package postfixconf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// typed fetches the expanded value of name and a prefix for conversion
// errors: "main.cf:12: name" for values from a file, "name" for Set
// values and "name (default)" for defaults.
func (c *Config) typed(name string) (string, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, p, err := c.getLocked(name)
	return v, c.describe(name, p), err
}

// Bool returns a boolean parameter. Postfix accepts "yes" and "no" in any
// case; Bool also accepts "true" and "false".
func (c *Config) Bool(name string) (bool, error) {
	v, where, err := c.typed(name)
	if err != nil {
		return false, err
	}
	switch {
	case strings.EqualFold(v, "yes"), strings.EqualFold(v, "true"):
		return true, nil
	case strings.EqualFold(v, "no"), strings.EqualFold(v, "false"):
		return false, nil
	}
	return false, fmt.Errorf("%s: bad boolean value %q (want yes or no)", where, v)
}

// Int returns an integer parameter: decimal digits with an optional sign,
// as Postfix's get_mail_conf_int accepts.
func (c *Config) Int(name string) (int, error) {
	v, where, err := c.typed(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 0)
	if err != nil {
		return 0, fmt.Errorf("%s: bad integer value %q", where, v)
	}
	return int(n), nil
}

// Size returns a size or count in bytes, such as message_size_limit. Like
// Postfix, it takes a plain non-negative decimal number; there are no
// unit suffixes.
func (c *Config) Size(name string) (int64, error) {
	v, where, err := c.typed(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || !allDigits(strings.TrimPrefix(v, "+")) {
		return 0, fmt.Errorf("%s: bad size value %q (want a number of bytes)", where, v)
	}
	return n, nil
}

// Duration returns a time parameter: a non-negative integer with an
// optional one-letter unit, s (seconds), m (minutes), h (hours), d (days)
// or w (weeks), as Postfix's conv_time(3). A bare number is in the
// parameter's default unit: seconds for most, hours or days for the
// parameters postconf(5) says so (delay_warning_time is in hours,
// maximal_queue_lifetime in days, ...). As in Postfix, the total must fit
// in a 32-bit count of seconds.
func (c *Config) Duration(name string) (time.Duration, error) {
	v, where, err := c.typed(name)
	if err != nil {
		return 0, err
	}
	unit, ok := timeUnits[name]
	if !ok {
		unit = 's'
	}
	d, err := parseDuration(v, unit)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", where, err)
	}
	return d, nil
}

// parseDuration converts a Postfix time value.
func parseDuration(v string, defUnit byte) (time.Duration, error) {
	digits, unit := v, defUnit
	if n := len(v); n > 0 && !isDigit(v[n-1]) {
		digits, unit = v[:n-1], v[n-1]
	}
	bad := fmt.Errorf("bad time value %q (want a number with an optional s, m, h, d or w suffix)", v)
	if !allDigits(digits) {
		return 0, bad
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, bad
	}
	var scale int64
	switch unit {
	case 's':
		scale = 1
	case 'm':
		scale = 60
	case 'h':
		scale = 3600
	case 'd':
		scale = 86400
	case 'w':
		scale = 7 * 86400
	default:
		return 0, bad
	}
	if n > math.MaxInt32/scale {
		return 0, fmt.Errorf("time value %q is too large", v)
	}
	return time.Duration(n*scale) * time.Second, nil
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// List returns the expanded value of name split with SplitList.
func (c *Config) List(name string) ([]string, error) {
	v, err := c.Get(name)
	if err != nil {
		return nil, err
	}
	return SplitList(v), nil
}
