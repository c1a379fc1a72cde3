package tlsrpt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/mxkit/mxkit/tlspolicy/tlsrpt"
)

// Record the sessions of a day, then build the day's report as the
// Reporter sends it after midnight UTC.
func Example() {
	ctx := context.Background()
	store := &tlsrpt.MemoryStore{} // or tlsrpt.OpenFileStore, or tlsrptpg.Open
	agg := &tlsrpt.Aggregator{Store: store}

	sts := tlsrpt.Policy{
		Type:    tlsrpt.PolicySTS,
		Strings: []string{"version: STSv1", "mode: enforce", "mx: *.example.com", "max_age: 86400"},
		Domain:  "example.com",
		MXHosts: []string{"*.example.com"},
	}
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	agg.Record(tlsrpt.Result{Time: day.Add(9 * time.Hour), Policy: sts})
	agg.Record(tlsrpt.Result{Time: day.Add(10 * time.Hour), Policy: sts})
	agg.Record(tlsrpt.Result{Time: day.Add(11 * time.Hour), Policy: sts, Failure: &tlsrpt.Failure{
		ResultType:          tlsrpt.ResultSTARTTLSNotSupported,
		SendingMTAIP:        netip.MustParseAddr("192.0.2.10"),
		ReceivingMXHostname: "mx1.example.com",
		ReceivingMXHelo:     "mx1.example.com",
		ReceivingIP:         netip.MustParseAddr("192.0.2.1"),
	}})
	if err := agg.Flush(ctx); err != nil {
		fmt.Println(err)
		return
	}

	k := tlsrpt.Key{Domain: "example.com", Day: day}
	rep := tlsrpt.BuildReport(store.Get(k), tlsrpt.ReportOptions{Submitter: "sub"})
	js, _ := rep.JSON()
	var out bytes.Buffer
	json.Indent(&out, js, "", "  ")
	fmt.Println(tlsrpt.FileName(k, "sub"))
	fmt.Println(out.String())
	// Output:
	// sub!example.com!1772323200!1772409599.json.gz
	// {
	//   "organization-name": "sub",
	//   "date-range": {
	//     "start-datetime": "2026-03-01T00:00:00Z",
	//     "end-datetime": "2026-03-01T23:59:59Z"
	//   },
	//   "contact-info": "postmaster@sub",
	//   "report-id": "20260301.example.com@sub",
	//   "policies": [
	//     {
	//       "policy": {
	//         "policy-type": "sts",
	//         "policy-string": [
	//           "version: STSv1",
	//           "mode: enforce",
	//           "mx: *.example.com",
	//           "max_age: 86400"
	//         ],
	//         "policy-domain": "example.com",
	//         "mx-host": [
	//           "*.example.com"
	//         ]
	//       },
	//       "summary": {
	//         "total-successful-session-count": 2,
	//         "total-failure-session-count": 1
	//       },
	//       "failure-details": [
	//         {
	//           "result-type": "starttls-not-supported",
	//           "sending-mta-ip": "192.0.2.10",
	//           "receiving-mx-hostname": "mx1.example.com",
	//           "receiving-mx-helo": "mx1.example.com",
	//           "receiving-ip": "192.0.2.1",
	//           "failed-session-count": 1
	//         }
	//       ]
	//     }
	//   ]
	// }
}
