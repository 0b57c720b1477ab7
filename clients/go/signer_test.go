package towerhmac

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestFreshTimeAndNonce(t *testing.T) {
	s := testSigner(t)
	before := time.Now().Unix()
	var seen []*Signed
	for i := 0; i < 2; i++ {
		signed, err := s.Sign(newRequest(t, "GET", "http://h/x", nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, signed)
	}
	after := time.Now().Unix()
	for _, signed := range seen {
		if int64(signed.Time) < before || int64(signed.Time) > after {
			t.Fatalf("time %d not now", signed.Time)
		}
		raw, err := base64.RawURLEncoding.DecodeString(signed.Nonce)
		if err != nil || len(raw) != 16 {
			t.Fatalf("nonce %q: 16 random bytes, base64url", signed.Nonce)
		}
		if !authRe.MatchString(signed.Authorization) {
			t.Fatal(signed.Authorization)
		}
	}
	if seen[0].Nonce == seen[1].Nonce || seen[0].Signature == seen[1].Signature {
		t.Fatal("nonces repeat")
	}
}

func TestHostComesFromTheURLWhenNotSet(t *testing.T) {
	s := testSigner(t)
	req := newRequest(t, "GET", "http://api.example.com:8443/x", nil)
	req.Host = ""
	signed, err := s.Sign(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if req.Host != "api.example.com:8443" || !strings.Contains(signed.StringToSign, "\nhost:api.example.com:8443\n") {
		t.Fatal(signed.Explain())
	}
	req = newRequest(t, "GET", "http://other/x", nil)
	req.Host = "API.example.com"
	signed, _ = s.Sign(req, nil)
	if !strings.Contains(signed.StringToSign, "\nhost:API.example.com\n") {
		t.Fatal("req.Host is what is sent, and signed as is")
	}
	for _, host := range []string{"", "bücher.example", "[fe80::1%25eth0]:80"} {
		req = newRequest(t, "GET", "http://h/x", nil)
		req.Host, req.URL.Host = host, host
		if _, err := s.Sign(req, nil); err == nil {
			t.Errorf("host %q accepted", host)
		}
	}
}

func TestSignedHeaders(t *testing.T) {
	s := testSigner(t, "X-Idempotency-Key", "x-tag", "x-tag")
	if fmt.Sprint(s.ExtraHeaders()) != "[x-idempotency-key x-tag]" {
		t.Fatal(s.ExtraHeaders())
	}
	req := newRequest(t, "PUT", "http://h/x", nil)
	req.Header["x-tag"] = []string{"c"} // a non-canonical key is sent too, after X-Tag
	req.Header.Add("X-Tag", " a\t")
	req.Header.Add("X-Tag", "b  b")
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Accept", "*/*")
	signed, err := s.Sign(req, []byte("body"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("body"))
	want := "content-type;host;x-idempotency-key;x-tag\ncontent-type:text/plain\nhost:h\nx-idempotency-key:\nx-tag:a,b  b,c\n" + fmt.Sprintf("%x", sum)
	if !strings.HasSuffix(signed.StringToSign, want) {
		t.Fatal(signed.Explain())
	}
	signed, _ = s.Sign(newRequest(t, "GET", "http://h/x", nil), nil)
	if signed.SignedHeaders != "host;x-idempotency-key;x-tag" {
		t.Fatal("content-type only when present:", signed.SignedHeaders)
	}

	req = newRequest(t, "GET", "http://h/x", nil)
	req.Header.Set("X-Tag", "a\r\nInjected: 1")
	if _, err := s.Sign(req, nil); err == nil {
		t.Fatal("CR LF in a signed header")
	}
	req = newRequest(t, "GET", "http://h/x", nil)
	req.Method = "G ET"
	if _, err := s.Sign(req, nil); err == nil {
		t.Fatal("a method with a space")
	}
}

func TestReplacesOldSignatureHeaders(t *testing.T) {
	s := testSigner(t)
	req := newRequest(t, "POST", "http://h/x", nil)
	req.Header["authorization"] = []string{"Basic old"}
	req.Header.Set("Content-Digest", "sha-256=:old:")
	req.Header.Set("X-Hmac-Body", "chunks")
	signed, err := s.Sign(req, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Header) != 2 || req.Header.Get("Authorization") != signed.Authorization || req.Header.Get("Content-Digest") != ContentDigest(sha256.Sum256([]byte("x"))) {
		t.Fatal(req.Header)
	}
	digest := sha256.Sum256([]byte("x"))
	s.Now = func() time.Time { return time.Unix(5, 0) }
	s.Nonce = func() (string, error) { return "nnnnnnnnnnnnnnnn", nil }
	a, _ := s.Sign(newRequest(t, "POST", "http://h/x", nil), []byte("x"))
	b, _ := s.SignDigest(newRequest(t, "POST", "http://h/x", nil), digest)
	if a.Authorization != b.Authorization {
		t.Fatal("SignDigest signs like Sign")
	}
}

func TestConfig(t *testing.T) {
	for _, id := range []string{"", "a b", strings.Repeat("x", 65), "é", "a/b"} {
		if _, err := NewSigner(id, testSecret); err == nil {
			t.Errorf("key id %q accepted", id)
		}
	}
	if _, err := NewSigner("k", testSecret[:15]); err == nil || !strings.Contains(err.Error(), "15 bytes") {
		t.Fatal(err)
	}
	var many []string
	for i := 0; i < 31; i++ {
		many = append(many, fmt.Sprintf("x-%d", i))
	}
	for _, extra := range [][]string{{"authorization"}, {"a b"}, {"x:y"}, many} {
		if _, err := NewSigner("k", testSecret, extra...); err == nil {
			t.Errorf("extra headers %v accepted", extra)
		}
	}
	if _, err := NewSigner("k", testSecret, many[:30]...); err != nil {
		t.Fatal("32 names in all are allowed:", err)
	}
	var cfg *ConfigError
	if _, err := NewSignerBase64("k", "not base64"); !errors.As(err, &cfg) {
		t.Fatal(err)
	}
	s := testSigner(t)
	if strings.Contains(fmt.Sprint(s), string(testSecret)) || strings.Contains(fmt.Sprintf("%+v", *s), base64.StdEncoding.EncodeToString(testSecret)) {
		t.Fatal("the secret shows")
	}
	if _, err := (&Signer{}).Sign(newRequest(t, "GET", "http://h/", nil), nil); err == nil {
		t.Fatal("a zero Signer signs")
	}
	s.Nonce = func() (string, error) { return "short", nil }
	if _, err := s.Sign(newRequest(t, "GET", "http://h/", nil), nil); err == nil {
		t.Fatal("a bad nonce")
	}
}

func TestSignerFromEnv(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString(testSecret)
	t.Setenv("TOWER_HMAC_KEY_ID", " 7\n")
	t.Setenv("TOWER_HMAC_SECRET", b64+"\n")
	s, err := SignerFromEnv("", "")
	if err != nil || s.KeyID() != "7" {
		t.Fatal(s, err)
	}
	same, _ := NewSigner("7", testSecret)
	for _, signer := range []*Signer{s, same} {
		signer.Now = func() time.Time { return time.Unix(1, 0) }
		signer.Nonce = func() (string, error) { return "aaaaaaaaaaaaaaaa", nil }
	}
	a, _ := s.Sign(newRequest(t, "GET", "http://h/", nil), nil)
	b, _ := same.Sign(newRequest(t, "GET", "http://h/", nil), nil)
	if a.Authorization != b.Authorization {
		t.Fatal("the decoded secret")
	}

	short := base64.StdEncoding.EncodeToString([]byte("0123456789"))
	cases := []struct{ id, secret, want string }{
		{"", b64, `TOWER_HMAC_KEY_ID \(the key id\) is not set`},
		{"7", "", `TOWER_HMAC_SECRET \(the secret, standard base64\) is not set`},
		{"7", "  ", `TOWER_HMAC_SECRET .* is not set`},
		{"no spaces", b64, `TOWER_HMAC_KEY_ID: key id "no spaces"`},
		{"7", strings.TrimRight(b64, "="), `TOWER_HMAC_SECRET is not standard base64 with padding`},
		{"7", strings.ReplaceAll(b64, "d", "-"), `TOWER_HMAC_SECRET is not standard base64`},
		{"7", short, `TOWER_HMAC_SECRET decodes to 10 bytes; a secret needs at least 16`},
	}
	for _, c := range cases {
		t.Setenv("TOWER_HMAC_KEY_ID", c.id)
		t.Setenv("TOWER_HMAC_SECRET", c.secret)
		_, err := SignerFromEnv("", "")
		if err == nil || !regexp.MustCompile(c.want).MatchString(err.Error()) {
			t.Errorf("%q %q: %v, wanted %s", c.id, c.secret, err, c.want)
			continue
		}
		if len(strings.TrimSpace(c.secret)) > 4 && strings.Contains(err.Error(), strings.TrimSpace(c.secret)) {
			t.Errorf("the secret shows in %v", err)
		}
	}
	t.Setenv("K", "k")
	t.Setenv("S", b64)
	if s, err := SignerFromEnv("K", "S", "x-a"); err != nil || s.KeyID() != "k" || s.ExtraHeaders()[0] != "x-a" {
		t.Fatal(s, err)
	}
}

func TestContentDigest(t *testing.T) {
	d := sha256.Sum256([]byte("x"))
	enc := base64.StdEncoding.EncodeToString(d[:])
	for _, value := range []string{ContentDigest(d), "sha-512=:" + base64.StdEncoding.EncodeToString(make([]byte, 64)) + ":, sha-256=:" + enc + ":"} {
		got, ok, err := ParseContentDigest(value)
		if err != nil || !ok || got != d {
			t.Fatal(value, ok, err)
		}
	}
	if _, ok, err := ParseContentDigest("sha-512=:AAAA:"); ok || err != nil {
		t.Fatal("no sha-256 member")
	}
	for _, bad := range []string{"sha-256=:" + enc + ":, sha-256=:" + enc + ":", "sha-256=:AAAA:", "sha-256=:not base64!:", "sha-256=" + enc, "sha-256"} {
		if _, _, err := ParseContentDigest(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestExplain(t *testing.T) {
	s := testSigner(t)
	req := newRequest(t, "POST", "http://h/v1/orders?a=1", nil)
	req.Header.Set("Content-Type", "text/plain")
	signed, _ := s.Sign(req, []byte("{}"))
	text := signed.Explain()
	lines := strings.Split(signed.StringToSign, "\n")
	if !strings.Contains(text, "(11 lines") || len(lines) != 11 {
		t.Fatal(text)
	}
	for i, line := range lines {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^ *%d  .{15} %s$`, i+1, regexp.QuoteMeta(line))).MatchString(text) {
			t.Errorf("line %d missing:\n%s", i+1, text)
		}
	}
	for _, want := range []string{`as JSON: "HMAC-SHA256\ngo-1\n`, "Authorization: " + signed.Authorization, "Content-Digest: " + signed.ContentDigest} {
		if !strings.Contains(text, want) {
			t.Errorf("%q missing:\n%s", want, text)
		}
	}
	chunked, _ := s.SignChunked(newRequest(t, "POST", "http://h/x", nil))
	if !strings.Contains(chunked.Explain(), "chunked body    STREAMING-HMAC-SHA256-CHUNKS") || !strings.Contains(chunked.Explain(), "X-HMAC-Body: chunks") {
		t.Fatal(chunked.Explain())
	}
}

func TestChunkSignerMisuse(t *testing.T) {
	s := testSigner(t)
	plain, _ := s.Sign(newRequest(t, "POST", "http://h/x", nil), nil)
	if _, err := plain.ChunkSigner(); err == nil {
		t.Fatal("chunks from a declared signature")
	}
	req := newRequest(t, "POST", "http://h/x", nil)
	signed, _ := s.SignChunked(req)
	cs, _ := signed.ChunkSigner()
	if _, err := cs.AppendChunk(nil, nil); err != ErrEmptyChunk {
		t.Fatal(err)
	}
	cs.AppendChunk(nil, []byte("a"))
	cs.AppendLast(nil)
	if _, err := cs.AppendChunk(nil, []byte("b")); err != ErrChunksEnded {
		t.Fatal(err)
	}
	if _, err := cs.AppendLast(nil); err != ErrChunksEnded {
		t.Fatal(err)
	}
	// A nil body is an empty one: just the last chunk.
	wire, _ := io.ReadAll(req.Body)
	if data, err := unframe(testSecret, signed.Signature, wire); err != nil || len(data) != 0 || !bytes.HasPrefix(wire, []byte("0;sig=")) {
		t.Fatal(err, wire)
	}
	// Reads of any size, and a body that fails midway.
	req = newRequest(t, "POST", "http://h/x", io.MultiReader(strings.NewReader("abc"), errReader{}))
	signed, _ = s.SignChunked(req)
	one := make([]byte, 1)
	var got []byte
	var err error
	for err == nil {
		var n int
		n, err = req.Body.Read(one)
		got = append(got, one[:n]...)
	}
	if err.Error() != "boom" || !bytes.HasPrefix(got, []byte("3;sig=")) || !bytes.HasSuffix(got, []byte("\r\nabc\r\n")) {
		t.Fatalf("%v %q", err, got)
	}
}

var _ http.RoundTripper = (*Transport)(nil)
