package smtppolicy

import (
	"context"
	"net/netip"
	"testing"
)

// ETRN runs the delayed client and HELO restrictions (Postfix's
// smtpd_check_etrn); a defer_if_permit from them becomes the deferral; the
// session's state is untouched.
func TestSessionEtrn(t *testing.T) {
	ctx := context.Background()
	deny := CheckFunc(func(_ context.Context, st *State) (Decision, error) {
		if st.ClientAddr == netip.MustParseAddr("192.0.2.66") {
			return Decision{Action: ActionReject, Rejection: Rejectf(554, "5.7.1", st.ClientNamAddr(), ClassClient, "Access denied")}, nil
		}
		return Decision{}, nil
	})
	dip := CheckFunc(func(_ context.Context, st *State) (Decision, error) {
		if st.ClientAddr == netip.MustParseAddr("192.0.2.67") {
			return Decision{Action: ActionDeferIfPermit, Rejection: Rejectf(450, "4.7.1", st.ClientNamAddr(), ClassClient, "Try later")}, nil
		}
		return Decision{}, nil
	})
	p := &Policy{Client: Chain{deny, dip}, Relay: Chain{RejectUnauthDestination}}
	for _, tc := range []struct{ ip, want string }{
		{"192.0.2.1", ""},
		{"192.0.2.66", "554 5.7.1 <unknown[192.0.2.66]>: Client host rejected: Access denied"},
		{"192.0.2.67", "450 4.7.1 <unknown[192.0.2.67]>: Client host rejected: Try later"},
	} {
		s := p.NewSession(&State{ClientAddr: netip.MustParseAddr(tc.ip), ClientName: "unknown", ReverseName: "unknown"})
		if r := s.Helo(ctx, "client.example.org", true); r != nil {
			t.Fatalf("%s: HELO %v", tc.ip, r)
		}
		got := ""
		if r := s.Etrn(ctx, "example.test"); r != nil {
			got = r.String()
		}
		if got != tc.want {
			t.Errorf("%s: ETRN %q, want %q", tc.ip, got, tc.want)
		}
		if st := s.State(); st.Helo != "client.example.org" || st.HasSender {
			t.Errorf("%s: state changed: %+v", tc.ip, st)
		}
	}
}
