package smtpdialog_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"

	"github.com/mxkit/mxkit/internal/smtpdialog"
)

func ExampleParseReply() {
	r, err := smtpdialog.ParseReply("554 5.7.1 <u@elsewhere.example>: Relay access denied\r\n")
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Code)
	fmt.Println(r.Enhanced)
	fmt.Println(r.Text)
	// Output:
	// 554
	// 5.7.1
	// <u@elsewhere.example>: Relay access denied
}

func ExampleRun() {
	// A tiny stand-in server; in real tests addr comes from
	// testpostfix.Start or from our own server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		io.WriteString(c, "220 mx.example.test ESMTP\r\n")
		br.ReadString('\n')
		io.WriteString(c, "250 mx.example.test\r\n")
		br.ReadString('\n')
		io.WriteString(c, "221 2.0.0 Bye\r\n")
	}()

	replies, err := smtpdialog.Run(context.Background(), ln.Addr().String(), "127.0.0.2",
		[]string{"HELO client.example", "QUIT"})
	if err != nil {
		panic(err)
	}
	for _, r := range replies {
		fmt.Println(r)
	}
	// Output:
	// 220 mx.example.test ESMTP
	// 250 mx.example.test
	// 221 2.0.0 Bye
}
