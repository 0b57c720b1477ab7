// Command handshakerecipe is the Go HMAC challenge-response recipe that
// tower-hmac's raw handshake (`handshake::raw`, `Recipe::go()`) speaks,
// written from its description in tower-hmac's issue 15, both roles, for
// tests/handshake_raw.rs:
//
//   - the server writes 16 random alphanumeric characters (0-9A-Za-z);
//   - the client answers with the raw 16-byte HMAC-MD5(secret, challenge);
//   - the server reads what arrives (up to 4096 bytes in one read) and
//     compares it with hmac.Equal;
//   - no result message is sent: the server goes on or closes (here: closes).
//
// The client takes every read as a new challenge, and answers each.
//
// Usage:
//
//	handshakerecipe serve           # 127.0.0.1, a free port; one connection
//	handshakerecipe connect ADDR
//
// The secret is read as hex from RECIPE_SECRET_HEX. Everything the program
// sees is printed to stdout, one line each, for the test to check:
//
//	serve:   LISTENING <port>, CHALLENGE <challenge>, then AUTHENTICATED
//	         or REFUSED <reason>
//	connect: CHALLENGE <quoted bytes> and ANSWERED for each read, then
//	         CLOSED EOF or CLOSED <error>
package main

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"time"
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func randomChallenge() string {
	challenge := make([]byte, 16)
	for i := range challenge {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err)
		}
		challenge[i] = alphabet[n.Int64()]
	}
	return string(challenge)
}

func sign(secret, message []byte) []byte {
	mac := hmac.New(md5.New, secret)
	mac.Write(message)
	return mac.Sum(nil)
}

func handle(conn net.Conn, secret []byte) {
	defer conn.Close()
	challenge := randomChallenge()
	if _, err := conn.Write([]byte(challenge)); err != nil {
		fmt.Println("REFUSED write:", err)
		return
	}
	fmt.Println("CHALLENGE", challenge)
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		fmt.Println("REFUSED read:", err)
		return
	}
	if hmac.Equal(buf[:n], sign(secret, []byte(challenge))) {
		fmt.Println("AUTHENTICATED")
	} else {
		fmt.Printf("REFUSED wrong answer (%d bytes)\n", n)
	}
}

func serve(secret []byte) error {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer listener.Close()
	fmt.Println("LISTENING", listener.Addr().(*net.TCPAddr).Port)
	conn, err := listener.Accept()
	if err != nil {
		return err
	}
	handle(conn, secret)
	return nil
}

func connect(addr string, secret []byte) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	for {
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if errors.Is(err, io.EOF) {
			fmt.Println("CLOSED EOF")
			return nil
		}
		if err != nil {
			fmt.Println("CLOSED", err)
			return nil
		}
		challenge := buf[:n]
		fmt.Printf("CHALLENGE %q\n", challenge)
		if _, err := conn.Write(sign(secret, challenge)); err != nil {
			fmt.Println("CLOSED", err)
			return nil
		}
		fmt.Println("ANSWERED")
	}
}

func main() {
	secret, err := hex.DecodeString(os.Getenv("RECIPE_SECRET_HEX"))
	if err != nil || len(secret) == 0 {
		fmt.Fprintln(os.Stderr, "RECIPE_SECRET_HEX: the secret, in hex")
		os.Exit(2)
	}
	// Never outlive a stuck test.
	time.AfterFunc(60*time.Second, func() {
		fmt.Fprintln(os.Stderr, "still running after 60 s")
		os.Exit(4)
	})
	switch {
	case len(os.Args) == 2 && os.Args[1] == "serve":
		err = serve(secret)
	case len(os.Args) == 3 && os.Args[1] == "connect":
		err = connect(os.Args[2], secret)
	default:
		fmt.Fprintln(os.Stderr, "usage: handshakerecipe serve | connect ADDR")
		os.Exit(2)
	}
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(3)
	}
}
