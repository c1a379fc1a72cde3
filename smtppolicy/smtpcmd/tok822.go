package smtpcmd

import "strings"

// This file is a port of the parts of Postfix's RFC 822 address parser
// (src/global/tok822_parse.c) that smtpd's extract_addr uses: the
// tokenizer, the right-to-left grouping of tokens into addresses, and the
// conversion of an address back to its internal (unquoted) form. Postfix
// parses envelope addresses with it even under strict_rfc821_envelopes,
// which is why it takes "< a @ b >", "a@b@c" or "a..b@c" and leaves the
// decision to the restrictions.

// Token types: an operator is its own byte; the others are above 0xff.
const (
	tokAtom = 256 + iota
	tokQString
	tokDomLit
	tokComment
	tokAddr
	tokStartGrp
)

// tok822Ops are tok822_opchar: "|%!" and the RFC 822 specials.
const tok822Ops = "|%!()<>@,;:\\\".[]"

type tok822 struct {
	typ        int
	text       string
	prev, next *tok822
	head       *tok822 // the tokens of a tokAddr
	owner      *tok822 // the tokAddr this token belongs to
}

func isOp(c byte) bool { return strings.IndexByte(tok822Ops, c) >= 0 }

func isSpace822(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// scan822 is tok822_scan: the input as a list of tokens.
func scan822(s string) (head, tail *tok822) {
	add := func(t *tok822) {
		if head == nil {
			head, tail = t, t
			return
		}
		tail.next, t.prev = t, tail
		tail = t
	}
	for i := 0; i < len(s); {
		c := s[i]
		i++
		switch {
		case isSpace822(c):
			continue
		case c == '(':
			var b strings.Builder
			b.WriteByte('(')
			level := 1
			for i < len(s) {
				c := s[i]
				b.WriteByte(c)
				i++
				if c == '(' {
					level++
				} else if c == ')' {
					if level--; level == 0 {
						break
					}
				} else if c == '\\' {
					if i >= len(s) {
						break
					}
					b.WriteByte(s[i])
					i++
				}
			}
			add(&tok822{typ: tokComment, text: b.String()})
		case c == '[' || c == '"':
			end := byte(']')
			typ := tokDomLit
			if c == '"' {
				end, typ = '"', tokQString
			}
			var text string
			text, i = collect822(s, i, func(c byte) bool { return c != end })
			if i < len(s) {
				i++ // the closing byte
			}
			add(&tok822{typ: typ, text: text})
		case c != '\\' && isOp(c):
			add(&tok822{typ: int(c)})
		default:
			var text string
			text, i = collect822(s, i-1, func(c byte) bool { return !isSpace822(c) && !isOp(c) })
			t := &tok822{typ: tokAtom, text: text}
			// tok822_quote_atom: an atom with a space, a control or an
			// operator (all quoted with '\') is a quoted string.
			for j := 0; j < len(text); j++ {
				if c := text[j]; c == ' ' || c < 0x20 || c == 0x7f || isOp(c) {
					t.typ = tokQString
					break
				}
			}
			add(t)
		}
	}
	return head, tail
}

// collect822 is the COLLECT macro: bytes while cond holds, a backslash
// taking the next byte whatever it is; white space becomes a space.
func collect822(s string, i int, cond func(byte) bool) (string, int) {
	var b strings.Builder
	for i < len(s) {
		c := s[i]
		if c == '\\' {
			if i+1 >= len(s) {
				i++
				break
			}
			i++
			c = s[i]
		} else if !cond(c) {
			break
		}
		if isSpace822(c) {
			c = ' '
		}
		b.WriteByte(c)
		i++
	}
	return b.String(), i
}

// parse822 is tok822_parse: the tokens of s with each address grouped
// under a tokAddr node, from right to left as Postfix does.
func parse822(s string) *tok822 {
	first, last := scan822(s)
	if first == nil {
		return nil
	}
	head, tail := &tok822{}, &tok822{}
	head.next, first.prev = first, head
	last.next, tail.prev = tail, last

	const (
		doWord  = 1 << 0
		doGroup = 1 << 1
	)
	state := doWord
	right := tail
	tp := tail.prev
	for tp.typ != 0 {
		switch {
		case tp.typ == tokComment: // move the comment to the side
			prev := unlink822(tp)
			right = prepend822(right, tp)
			tp = prev
			continue
		case tp.typ == ';':
			right = group822(tp, right, ',')
			state = doGroup | doWord
		case tp.typ == ':' && state&doGroup != 0:
			tp.typ = tokStartGrp
			group822(tp, right, 0)
			for tp.typ != 0 && tp.typ != ',' {
				tp = tp.prev
			}
			right = tp
			continue
		case tp.typ == '>': // the right side of a <route>
			right = group822(tp, right, ',')
			for tp.typ != 0 && tp.typ != '<' {
				if tp.typ == tokComment {
					prev := unlink822(tp)
					right = prepend822(right, tp)
					tp = prev
					continue
				}
				tp = tp.prev
			}
			group822(tp, right, 0)
			for tp.typ != 0 && (tp.typ > 0xff || strings.IndexByte(">;,:", byte(tp.typ)) < 0) {
				tp = tp.prev
			}
			right = tp
			state |= doWord
			continue
		case tp.typ == tokAtom || tp.typ == tokQString || tp.typ == tokDomLit:
			if state&doWord == 0 {
				right = group822(tp, right, ',').next
			}
			state &^= doWord
		case tp.typ == ',':
			right = group822(tp, right, 0)
			state |= doWord
		default:
			state |= doWord
		}
		tp = tp.prev
	}
	group822(tp, right, 0)
	list := head.next
	if list == tail {
		return nil
	}
	list.prev = nil
	tail.prev.next = nil
	return list
}

// unlink822 takes t out of its list and returns the token before it.
func unlink822(t *tok822) *tok822 {
	prev := t.prev
	if t.prev != nil {
		t.prev.next = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	}
	t.prev, t.next = nil, nil
	return prev
}

// prepend822 puts t before right and returns t.
func prepend822(right, t *tok822) *tok822 {
	t.prev, t.next = right.prev, right
	if right.prev != nil {
		right.prev.next = t
	}
	right.prev = t
	return t
}

// group822 is tok822_group: the tokens strictly between left and right
// become the children of a new tokAddr after left, preceded by a sync
// token when sync is not 0. It returns left.
func group822(left, right *tok822, sync int) *tok822 {
	first := left.next
	if left == right || first == right {
		return left
	}
	lastIn := right.prev
	g := &tok822{typ: tokAddr, head: first}
	first.prev, lastIn.next = nil, nil
	for t := first; t != nil; t = t.next {
		t.owner = g
	}
	g.prev, g.next = left, right
	left.next, right.prev = g, g
	if sync != 0 {
		s := &tok822{typ: sync, prev: left, next: g}
		left.next, g.prev = s, s
	}
	return left
}

// internalize822 is tok822_internalize: the tokens as a string in
// internal form (quoted strings without their quotes).
func internalize822(b *strings.Builder, list *tok822) {
	for t := list; t != nil; t = t.next {
		switch t.typ {
		case tokAddr:
			internalize822(b, t.head)
		case tokComment, tokAtom, tokQString:
			b.WriteString(t.text)
		case tokDomLit:
			b.WriteByte('[')
			b.WriteString(t.text)
			b.WriteByte(']')
		case tokStartGrp:
			b.WriteByte(':')
		default:
			b.WriteByte(byte(t.typ))
		}
		if appendSpace822(t) {
			b.WriteByte(' ')
		}
	}
}

func appendSpace822(t *tok822) bool {
	next := t.next
	if next == nil || t.owner != nil {
		return false
	}
	if t.typ == ',' || t.typ == tokStartGrp || next.typ == '<' {
		return true
	}
	nonOp := func(x *tok822) bool {
		return x.typ == tokAtom || x.typ == tokQString || x.typ == tokComment || x.typ == tokDomLit || x.typ == tokAddr
	}
	return nonOp(t) && nonOp(next)
}
