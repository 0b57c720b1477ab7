// Command schnellburger is a client of the legacy schnellburger scheme,
// written for tower-hmac's tests from the scheme's description (issue 15):
// RoundTripper signs every request as schnellburger's Go RoundTripper does,
// wrapping http.DefaultTransport. main sends the cases tests/schnellburger.rs
// expects to a tower-hmac server and prints one JSON line per request; the
// expectations live in the Rust test.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"
)

// RoundTripper signs each request with HMAC over Algorithm, keyed with Key
// under key index KeyID, then hands it to Next (http.DefaultTransport when
// nil). A nil Key sends the request unsigned.
type RoundTripper struct {
	Next      http.RoundTripper
	Key       []byte
	KeyID     uint64
	Algorithm func() hash.Hash
}

// RoundTrip implements http.RoundTripper. It never changes the caller's
// request: it signs and sends a copy (with its own header map).
func (rt RoundTripper) RoundTrip(original *http.Request) (*http.Response, error) {
	req := new(http.Request)
	*req = *original
	req.Header = make(http.Header, len(original.Header))
	for name, values := range original.Header {
		req.Header[name] = append([]string(nil), values...)
	}
	if rt.Key != nil {
		mac := hmac.New(rt.Algorithm, rt.Key)
		io.WriteString(mac, strings.ToUpper(req.Method))
		path := req.URL.Path
		if path == "" {
			path = "/"
		}
		io.WriteString(mac, path)
		if req.URL.RawQuery != "" {
			io.WriteString(mac, "?"+req.URL.RawQuery)
		}
		// A body, whatever the method, is read whole into memory through
		// the MAC, then sent from there.
		if req.Body != nil {
			var copied bytes.Buffer
			if req.ContentLength > 0 {
				copied.Grow(int(req.ContentLength))
			}
			if _, err := io.Copy(&copied, io.TeeReader(req.Body, mac)); err != nil {
				return nil, err
			}
			req.Body = bufferBody{Buffer: &copied, closer: original.Body}
		}
		value := make([]byte, 8, 8+mac.Size())
		binary.BigEndian.PutUint64(value, rt.KeyID)
		value = mac.Sum(value)
		req.Header.Set("Authorization", base64.StdEncoding.EncodeToString(value))
	}
	next := rt.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(req)
}

// bufferBody sends the copied body and closes the original one.
type bufferBody struct {
	*bytes.Buffer
	closer io.Closer
}

func (b bufferBody) Close() error { return b.closer.Close() }

// tamper changes a signed request before it leaves: what an attacker on
// the way could do.
type tamper struct {
	change func(*http.Request) error
}

func (t tamper) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.change(req); err != nil {
		return nil, err
	}
	return http.DefaultTransport.RoundTrip(req)
}

// flipBody replaces the (already signed) body by one with its middle byte changed.
func flipBody(req *http.Request) error {
	data, err := io.ReadAll(req.Body)
	if err != nil {
		return err
	}
	req.Body.Close()
	data[len(data)/2] ^= 1
	req.Body = io.NopCloser(bytes.NewReader(data))
	req.ContentLength = int64(len(data))
	return nil
}

// pattern is a deterministic body of n bytes.
func pattern(n int) []byte {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*31 + i>>11)
	}
	return data
}

type record struct {
	Kind      string  `json:"kind"`
	Case      string  `json:"case"`
	Status    int     `json:"status"`
	ErrorCode *string `json:"error_code"`
	Problem   *string `json:"problem"`
	Body      string  `json:"body"`
	SentLen   int     `json:"sent_len"`
	Error     *string `json:"error,omitempty"`
	Seconds   float64 `json:"seconds"`
}

func emit(v interface{}) {
	line, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(line))
}

func fatal(message string) {
	emit(map[string]string{"kind": "fatal", "message": message})
	os.Exit(1)
}

func main() {
	addr := flag.String("addr", "", "host:port of the server")
	algorithm := flag.String("hash", "md5", "md5 or sha256")
	keyHex := flag.String("key", "", "the key, in hex")
	keyID := flag.Uint64("key-id", 7, "the key index")
	flag.Parse()
	key, err := hex.DecodeString(*keyHex)
	if err != nil || *addr == "" || len(key) == 0 {
		fatal("usage: schnellburger -addr HOST:PORT -key HEX [-key-id N] [-hash md5|sha256]")
	}
	var newHash func() hash.Hash
	switch *algorithm {
	case "md5":
		newHash = md5.New
	case "sha256":
		newHash = sha256.New
	default:
		fatal("unknown -hash " + *algorithm)
	}
	emit(map[string]string{"kind": "env", "versions": runtime.Version() + ", HMAC-" + strings.ToUpper(*algorithm)})
	base := "http://" + *addr
	signed := RoundTripper{Key: key, KeyID: *keyID, Algorithm: newHash}
	wrongKey := signed
	wrongKey.Key = bytes.Repeat([]byte{0x5a}, len(key))
	unknownID := signed
	unknownID.KeyID = 99
	unsigned := signed
	unsigned.Key = nil
	tamperedBody := signed
	tamperedBody.Next = tamper{flipBody}
	tamperedQuery := signed
	tamperedQuery.Next = tamper{func(req *http.Request) error {
		req.URL.RawQuery = "n=2"
		return nil
	}}

	upload := 64 << 20
	cases := []struct {
		name      string
		transport http.RoundTripper
		method    string
		target    string
		body      []byte
	}{
		{"get", signed, "GET", "/hello", nil},
		{"get-query", signed, "GET", "/any/q?a=1&b=two%20words&c=%2F", nil},
		{"get-escaped-path", signed, "GET", "/any/a%2Fb%20c+d", nil},
		{"head", signed, "HEAD", "/any/h", nil},
		{"delete", signed, "DELETE", "/any/d?force=1", nil},
		{"post-echo", signed, "POST", "/echo", []byte("hello, schnellburger")},
		{"post-empty", signed, "POST", "/any/e", []byte{}},
		{"upload", signed, "POST", "/upload", pattern(upload)},
		{"tamper-body", tamperedBody, "POST", "/upload", pattern(1 << 20)},
		{"tamper-query", tamperedQuery, "GET", "/any/t?n=1", nil},
		{"wrong-key", wrongKey, "GET", "/hello", nil},
		{"unknown-key-id", unknownID, "GET", "/hello", nil},
		{"delete-with-body", signed, "DELETE", "/any/d", []byte("x")},
		{"no-key", unsigned, "GET", "/hello", nil},
	}
	results := 0
	for _, c := range cases {
		client := &http.Client{Transport: c.transport, Timeout: 120 * time.Second}
		var body io.Reader
		if c.body != nil {
			body = bytes.NewReader(c.body)
		}
		rec := record{Kind: "result", Case: "go:" + c.name, SentLen: len(c.body)}
		started := time.Now()
		req, err := http.NewRequest(c.method, base+c.target, body)
		if err == nil {
			var resp *http.Response
			resp, err = client.Do(req)
			if err == nil {
				data, readErr := io.ReadAll(resp.Body)
				resp.Body.Close()
				err = readErr
				rec.Status = resp.StatusCode
				if values, ok := resp.Header["X-Schnellburger-Error-Code"]; ok {
					joined := strings.Join(values, ",")
					rec.ErrorCode = &joined
				}
				if resp.Header.Get("Content-Type") == "application/problem+json" {
					var problem struct {
						Code string `json:"code"`
					}
					if json.Unmarshal(data, &problem) == nil {
						rec.Problem = &problem.Code
					}
				}
				if len(data) > 300 {
					data = data[:300]
				}
				rec.Body = string(data)
			}
		}
		if err != nil {
			message := err.Error()
			rec.Error = &message
		}
		rec.Seconds = time.Since(started).Seconds()
		emit(rec)
		results++
	}
	emit(map[string]interface{}{"kind": "done", "results": results})
}
