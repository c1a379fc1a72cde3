package netstring_test

import (
	"bytes"
	"fmt"

	"github.com/mxkit/mxkit/internal/netstring"
)

func ExampleReader() {
	var stream []byte
	stream = netstring.Append(stream, "postfix example.com")
	stream = netstring.Append(stream, "postfix example.net")
	stream = append(stream, "999:"...)
	fmt.Printf("%s\n", stream)

	r := netstring.NewReader(bytes.NewReader(stream), 100)
	for {
		req, err := r.Next()
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Printf("%q\n", req)
	}
	// Output:
	// 19:postfix example.com,19:postfix example.net,999:
	// "postfix example.com"
	// "postfix example.net"
	// netstring: too large: length 999 over the limit of 100 bytes
}
