package smtppolicy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/mxkit/mxkit/relaymaps"
)

// Action is what a check decided.
type Action uint8

// The actions. Postfix's evaluation rules apply: the first check that gives
// a result other than Dunno ends its list; Permit ends only its own list,
// Reject ends the stage. DeferIfPermit and DeferIfReject raise the flags of
// the same names and evaluation goes on (postfix-semantics §1.2).
const (
	ActionDunno Action = iota
	ActionPermit
	ActionReject
	ActionDeferIfPermit
	ActionDeferIfReject
)

var actionNames = [...]string{"DUNNO", "PERMIT", "REJECT", "DEFER_IF_PERMIT", "DEFER_IF_REJECT"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", a)
}

// Decision is the result of one check.
type Decision struct {
	Action Action
	// Rejection is what to say for Reject, DeferIfPermit and DeferIfReject.
	Rejection Rejection
	// Key, Table and Value say which table entry decided, for the explain
	// trace. They are empty for checks that use no table.
	Key, Table, Value string
	// Note is free text for the trace ("client 192.0.2.1 not in mynetworks").
	Note string
	// ConfigError marks 451 4.3.5 configuration errors, which
	// warn_if_reject must not turn into warnings.
	ConfigError bool

	// reply is set once a Reject has been settled (formatted, flags
	// applied), so enclosing chains pass it on unchanged.
	reply *Reply
}

// Reply returns the final reply of a settled Reject decision, or nil.
func (d Decision) Reply() *Reply { return d.reply }

// Check is one restriction. It looks at the session State and decides.
// An error means the check could not decide (a table or DNS failure); the
// chain turns it into a temporary reply (see Chain), never into a permit or a
// permanent rejection.
type Check interface {
	Check(ctx context.Context, st *State) (Decision, error)
}

// CheckFunc adapts a function to the Check interface.
type CheckFunc func(ctx context.Context, st *State) (Decision, error)

// Check calls f.
func (f CheckFunc) Check(ctx context.Context, st *State) (Decision, error) { return f(ctx, st) }

// Named gives a check a name for the explain trace and the logs.
func Named(name string, c Check) Check { return namedCheck{name, c} }

type namedCheck struct {
	name string
	c    Check
}

func (n namedCheck) Check(ctx context.Context, st *State) (Decision, error) {
	return n.c.Check(ctx, st)
}
func (n namedCheck) String() string       { return n.name }
func (n namedCheck) restrictsRelay() bool { return restrictsRelay(n.c) }

// checkName returns the name of c for traces.
func checkName(c Check) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", c)
}

// relayRestricting is implemented by checks that can refuse a relay attempt
// (reject, defer, defer_if_permit, reject_unauth_destination,
// defer_unauth_destination) and by chains and classes that contain one.
type relayRestricting interface{ restrictsRelay() bool }

func restrictsRelay(c Check) bool {
	r, ok := c.(relayRestricting)
	return ok && r.restrictsRelay()
}

// warnIfReject is the pseudo-restriction warn_if_reject.
type warnIfReject struct{}

func (warnIfReject) Check(context.Context, *State) (Decision, error) { return Decision{}, nil }
func (warnIfReject) String() string                                  { return "warn_if_reject" }

// WarnIfReject is Postfix's warn_if_reject: the next check in the same chain
// (and the checks nested in it) only logs what it would have rejected.
// Configuration errors are never turned into warnings.
var WarnIfReject Check = warnIfReject{}

// Chain is an ordered restriction list. It is itself a Check: the first check
// that gives a result other than Dunno decides; the end of the chain is
// Dunno (the stage then permits). A Reject result is final: it has already
// been through warn_if_reject, defer_if_reject and the reply formatter.
type Chain []Check

// maxDepth bounds nested evaluation (restriction classes, access table
// values naming restrictions), as Postfix does.
const maxDepth = 100

// Check evaluates the chain.
func (c Chain) Check(ctx context.Context, st *State) (Decision, error) {
	ev := &st.ev
	if ev.depth >= maxDepth {
		return configError(), nil
	}
	ev.depth++
	defer func() { ev.depth-- }()

	warnNext := false
	for _, chk := range c {
		if st.Discard {
			break
		}
		if chk == WarnIfReject {
			warnNext = true
			continue
		}
		if warnNext {
			ev.warn++
		}
		d, err := chk.Check(ctx, st)
		if err != nil {
			d = st.failure(err)
		}
		d = st.settle(chk, d)
		if warnNext {
			ev.warn--
			warnNext = false
		}
		switch d.Action {
		case ActionPermit, ActionReject:
			return d, nil
		}
		if ev.dip != nil && ev.dir != nil {
			break
		}
	}
	return Decision{}, nil
}

func (c Chain) restrictsRelay() bool {
	for i, chk := range c {
		if chk == WarnIfReject {
			continue
		}
		if i > 0 && c[i-1] == WarnIfReject {
			continue // a warn-only check refuses nothing
		}
		if restrictsRelay(chk) {
			return true
		}
	}
	return false
}

// String names an anonymous chain.
func (c Chain) String() string { return "chain" }

func configError() Decision {
	return Decision{
		Action:      ActionReject,
		Rejection:   Rejection{Code: 451, DSN: "4.3.5", Text: "Server configuration error"},
		ConfigError: true,
	}
}

// failure turns a check's error into Postfix's temporary replies: a
// configuration error (relaymaps.ErrConfig) is "451 4.3.5 Server
// configuration error", anything else "451 4.3.0 <name>: Temporary lookup
// failure". Never a permit, never a 5xx.
func (st *State) failure(err error) Decision {
	st.logger().Warn("smtppolicy: check failed", "stage", st.Stage.String(), "error", err)
	var re *ReplyError
	if errors.As(err, &re) {
		return Decision{Action: ActionReject, Rejection: Rejection{Code: re.Reply.Code, DSN: re.Reply.Enhanced.String(), Text: re.Reply.Text}, Note: err.Error()}
	}
	if errors.Is(err, relaymaps.ErrConfig) {
		d := configError()
		d.Note = err.Error()
		return d
	}
	return Decision{
		Action:      ActionReject,
		Rejection:   Rejection{Code: 451, DSN: "4.3.0", Text: "<" + st.ev.name + ">: Temporary lookup failure"},
		ConfigError: true, // a lookup failure is not a policy rejection: never a warning
		Note:        err.Error(),
	}
}

// settle applies Postfix's rules to one check's decision: a rejection under
// warn_if_reject becomes a logged warning; a 5xx under defer_if_reject
// becomes the saved 4xx; defer_if_permit/defer_if_reject raise their flags
// (the first reason is kept); the reply is formatted.
func (st *State) settle(chk Check, d Decision) Decision {
	ev := &st.ev
	switch d.Action {
	case ActionDeferIfPermit:
		if ev.dip == nil {
			r := d.Rejection
			ev.dip = &r
		}
		st.trace(chk, d, "")
		return Decision{}
	case ActionDeferIfReject:
		if ev.dir == nil {
			r := d.Rejection
			ev.dir = &r
		}
		st.trace(chk, d, "")
		return Decision{}
	case ActionReject:
		if d.reply != nil {
			return d // settled by a nested chain
		}
		rj := d.Rejection
		if ev.warn > 0 && !d.ConfigError {
			r := rj.format(st.softBounce)
			st.logger().Warn("smtppolicy: reject_warning", "stage", st.Stage.String(), "reply", r.String(), "check", checkName(chk))
			st.trace(chk, d, "reject_warning: "+r.String())
			return Decision{}
		}
		if ev.dir != nil && rj.Code/100 == 5 && !(rj.Code < 400 || rj.Code > 599) {
			rj = *ev.dir
			ev.dir, ev.dip = nil, nil
		}
		r := rj.format(st.softBounce)
		st.trace(chk, d, r.String())
		d.reply = &r
		return d
	case ActionPermit:
		st.trace(chk, d, "")
		return d
	}
	if d.Key != "" || d.Note != "" {
		st.trace(chk, d, "")
	}
	return d
}

func (st *State) logger() *slog.Logger {
	if st.Logger != nil {
		return st.Logger
	}
	return slog.Default()
}
