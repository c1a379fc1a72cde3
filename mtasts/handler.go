package mtasts

import (
	"net/http"
	"strconv"
)

// WellKnownPath is where a policy is served (RFC 8461 §3.3).
const WellKnownPath = "/.well-known/mta-sts.txt"

// Handler serves an operator's own policy at WellKnownPath, as
// "text/plain" in its canonical form (Policy.String); other paths get
// 404, methods other than GET and HEAD 405. Serve it on
// https://mta-sts.<domain>/ with a certificate valid for that name, and
// publish "v=STSv1; id=" + PolicyID(p) at _mta-sts.<domain>.
func Handler(p *Policy) http.Handler {
	body := []byte(p.String())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != WellKnownPath {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		h.Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}
