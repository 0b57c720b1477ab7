// Command e2e runs the Go client against a tower-hmac test server (the
// crate's tests/clients.rs starts one and runs this) and prints one JSON
// line per request: what was sent and what came back. It judges nothing
// itself; the Rust test holds the expectations, and checks what the
// server's handlers observed.
//
//	TOWER_HMAC_KEY_ID=7 TOWER_HMAC_SECRET=<base64> e2e -addr 127.0.0.1:3000 -tmp /tmp
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"towerhmac"
)

const (
	uploadSize = 64 << 20
	chunk      = 64 << 10
)

type record struct {
	Kind   string `json:"kind"`
	Case   string `json:"case"`
	Status int    `json:"status"`
	Code   string `json:"code,omitempty"`
	Body   string `json:"body"`
	Error  string `json:"error,omitempty"`
	// What the case sent, for the expectations that depend on it.
	Sent         string  `json:"sent,omitempty"`
	SentLen      int64   `json:"sent_len"`
	SignedTarget string  `json:"signed_target,omitempty"`
	TamperedAt   int     `json:"tampered_chunk"`
	ChunkSize    int     `json:"chunk_size"`
	Seconds      float64 `json:"seconds"`
}

var (
	base    string
	signer  *towerhmac.Signer
	httpc   = &http.Client{Timeout: 120 * time.Second}
	results = 0
)

func emitLine(v any) {
	line, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(line))
}

func fatal(format string, args ...any) {
	emitLine(map[string]string{"kind": "fatal", "message": fmt.Sprintf(format, args...)})
	os.Exit(2)
}

// send sends req with client and returns the answer as the record of case name.
func send(name string, client *http.Client, req *http.Request, r record) record {
	r.Kind, r.Case = "result", name
	started := time.Now()
	resp, err := client.Do(req)
	r.Seconds = time.Since(started).Seconds()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		r.Error = "reading the answer: " + err.Error()
	}
	r.Status = resp.StatusCode
	r.Body = string(body)
	if resp.Header.Get("Content-Type") == "application/problem+json" {
		var problem struct{ Code string }
		if json.Unmarshal(body, &problem) == nil {
			r.Code = problem.Code
		}
	}
	return r
}

func emit(r record) {
	results++
	emitLine(r)
}

func request(method, target string, body io.Reader) *http.Request {
	req, err := http.NewRequest(method, base+target, body)
	if err != nil {
		fatal("%v", err)
	}
	return req
}

// stream is a body net/http cannot re-read: no GetBody, no Seek.
type stream struct{ io.Reader }

// framed signs pieces of data in chunks by hand, so a case can break them.
func framed(req *http.Request, pieces [][]byte) ([]*bytes.Buffer, *towerhmac.Signed) {
	signed, err := signer.SignChunked(req)
	if err != nil {
		fatal("%v", err)
	}
	cs, err := signed.ChunkSigner()
	if err != nil {
		fatal("%v", err)
	}
	var out []*bytes.Buffer
	for _, p := range pieces {
		b, err := cs.AppendChunk(nil, p)
		if err != nil {
			fatal("%v", err)
		}
		out = append(out, bytes.NewBuffer(b))
	}
	last, _ := cs.AppendLast(nil)
	out = append(out, bytes.NewBuffer(last))
	return out, signed
}

func readers(bufs []*bytes.Buffer) io.Reader {
	var rs []io.Reader
	for _, b := range bufs {
		rs = append(rs, b)
	}
	return io.MultiReader(rs...)
}

func main() {
	addr := flag.String("addr", "", "the server's host:port")
	tmp := flag.String("tmp", os.TempDir(), "where to write the 64 MiB upload file")
	flag.Parse()
	if *addr == "" {
		fatal("-addr is required")
	}
	base = "http://" + *addr
	var err error
	signer, err = towerhmac.SignerFromEnv("", "")
	if err != nil {
		fatal("%v", err)
	}
	emitLine(map[string]string{"kind": "env", "versions": "go " + runtime.Version()})

	var signedTargets []string
	client := &http.Client{Timeout: 120 * time.Second, Transport: &towerhmac.Transport{
		Signer:  signer,
		Explain: func(r *http.Request, s *towerhmac.Signed) { signedTargets = append(signedTargets, r.URL.RequestURI()) },
	}}

	emit(send("go:get", client, request("GET", "/hello", nil), record{}))

	body := `{"item":"widget","qty":3}`
	req := request("POST", "/echo", strings.NewReader(body)) // GetBody
	req.Header.Set("Content-Type", "application/json")
	emit(send("go:echo", client, req, record{Sent: body}))

	body = "a stream net/http cannot re-read, under MaxBuffer"
	emit(send("go:echo-stream", client, request("POST", "/echo", stream{strings.NewReader(body)}), record{Sent: body}))

	signedTargets = nil
	r := send("go:raw-target", client, request("POST", "/any/a%2fb/%7E?q=%c3%a9&flag", strings.NewReader("x")), record{})
	if len(signedTargets) == 1 {
		r.SignedTarget = signedTargets[0]
	}
	emit(r)

	// 64 MiB from a file: hashed first, then streamed with its length.
	path := filepath.Join(*tmp, fmt.Sprintf("tower-hmac-go-e2e-%d.bin", os.Getpid()))
	f, err := os.Create(path)
	if err != nil {
		fatal("%v", err)
	}
	defer os.Remove(path)
	if _, err := io.CopyN(f, rand.Reader, uploadSize); err != nil {
		fatal("%v", err)
	}
	f.Seek(0, io.SeekStart)
	emit(send("go:upload-file", client, request("POST", "/upload", f), record{SentLen: uploadSize}))
	f.Close()

	// 64 MiB from a stream of unknown digest: signed chunks.
	emit(send("go:upload-chunks", client, request("POST", "/upload", stream{io.LimitReader(rand.Reader, uploadSize)}), record{SentLen: uploadSize}))

	// Tampering. Each request is signed, then changed, then sent unsigned
	// (http.DefaultTransport).
	original := bytes.Repeat([]byte("a"), 1000)
	req = request("POST", "/upload", nil)
	if _, err := signer.Sign(req, original); err != nil {
		fatal("%v", err)
	}
	changed := bytes.Repeat([]byte("b"), 1000)
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(changed)), int64(len(changed))
	emit(send("go:tamper-body", httpc, req, record{SentLen: int64(len(changed))}))

	req = request("GET", "/hello?n=1", nil)
	if _, err := signer.Sign(req, nil); err != nil {
		fatal("%v", err)
	}
	req.URL.RawQuery = "n=2"
	emit(send("go:tamper-target", httpc, req, record{}))

	var pieces [][]byte
	for i := 0; i < 8; i++ {
		p := make([]byte, chunk)
		rand.Read(p)
		pieces = append(pieces, p)
	}
	req = request("POST", "/upload", nil)
	chunks, _ := framed(req, pieces)
	b := chunks[2].Bytes()
	b[bytes.Index(b, []byte("\r\n"))+2+100] ^= 1 // one bit of chunk 2's data
	req.Body = io.NopCloser(readers(chunks))
	emit(send("go:tamper-chunk", httpc, req, record{SentLen: 8 * chunk, TamperedAt: 2, ChunkSize: chunk}))

	req = request("POST", "/upload", nil)
	chunks, _ = framed(req, pieces[:4])
	req.Body = io.NopCloser(readers(chunks[:4])) // the last chunk never comes
	emit(send("go:truncated-chunks", httpc, req, record{SentLen: 4 * chunk, ChunkSize: chunk}))

	wrong, err := towerhmac.NewSigner(signer.KeyID(), []byte("not the secret the server holds!"))
	if err != nil {
		fatal("%v", err)
	}
	emit(send("go:wrong-secret", &http.Client{Timeout: 60 * time.Second, Transport: &towerhmac.Transport{Signer: wrong}}, request("GET", "/hello", nil), record{}))

	req = request("GET", "/hello", nil)
	if _, err := signer.Sign(req, nil); err != nil {
		fatal("%v", err)
	}
	again := req.Clone(req.Context())
	emit(send("go:replay-first", httpc, req, record{}))
	emit(send("go:replay-second", httpc, again, record{}))

	emitLine(map[string]any{"kind": "done", "results": results})
}
