// Package towerhmac signs HTTP requests for a tower-hmac server: the
// HMAC-SHA256 protocol of docs/PROTOCOL.md, with declared digests
// (Content-Digest) and signed chunks for bodies whose digest is not known in
// advance. Standard library only.
//
// Sign single requests with a Signer, or every request of an http.Client
// with a Transport:
//
//	signer, err := towerhmac.SignerFromEnv("", "") // TOWER_HMAC_KEY_ID, TOWER_HMAC_SECRET
//	client := &http.Client{Transport: &towerhmac.Transport{Signer: signer}}
//	resp, err := client.Post("http://127.0.0.1:3000/echo", "application/json", strings.NewReader(`{"a":1}`))
package towerhmac

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	// Scheme is the Authorization scheme and the first line of every string-to-sign.
	Scheme = "HMAC-SHA256"
	// ChunkedBodyLine ends the string-to-sign of a body sent in signed chunks.
	ChunkedBodyLine = "STREAMING-HMAC-SHA256-CHUNKS"
	// BodyHeader announces a body in signed chunks, with the value BodyHeaderChunks.
	BodyHeader       = "X-HMAC-Body"
	BodyHeaderChunks = "chunks"
	// EmptySHA256 is the SHA-256 of the empty body, in hex.
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	// MinSecretBytes is the shortest secret the protocol allows.
	MinSecretBytes = 16
	// MaxSignedHeaders is the most names SignedHeaders may list.
	MaxSignedHeaders = 32
	// DefaultKeyIDVar and DefaultSecretVar are what SignerFromEnv reads by default.
	DefaultKeyIDVar  = "TOWER_HMAC_KEY_ID"
	DefaultSecretVar = "TOWER_HMAC_SECRET"
)

// ConfigError says why a key id, secret or header list cannot be used.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return "towerhmac: " + e.Msg }

func configErr(format string, args ...any) error {
	return &ConfigError{Msg: fmt.Sprintf(format, args...)}
}

// Signer signs requests with one key. Its zero value is not usable: make
// one with NewSigner, NewSignerBase64 or SignerFromEnv. A Signer is safe
// for concurrent use once its fields are set.
type Signer struct {
	keyID  string
	secret []byte
	extra  []string // lowercase, sorted, unique

	// Now gives the signing time; nil means time.Now. Set it only to
	// reproduce test vectors.
	Now func() time.Time
	// Nonce gives a fresh nonce; nil means 16 random bytes from
	// crypto/rand, base64url without padding. Set it only to reproduce
	// test vectors: a nonce must never be reused with a key.
	Nonce func() (string, error)
}

// NewSigner makes a signer for keyID with the secret's bytes (at least 16).
// extraHeaders are signed besides host (always) and content-type (when
// present), whether or not a request carries them (an absent one is signed
// empty).
func NewSigner(keyID string, secret []byte, extraHeaders ...string) (*Signer, error) {
	if !validKeyID(keyID) {
		return nil, configErr("key id %q: 1 to 64 characters from A-Z a-z 0-9 . _ ~ -", keyID)
	}
	if len(secret) < MinSecretBytes {
		return nil, configErr("the secret is %d bytes; at least %d are needed (generate 32 random bytes)", len(secret), MinSecretBytes)
	}
	seen := map[string]bool{}
	var extra []string
	for _, name := range extraHeaders {
		lower := strings.ToLower(name)
		if !isToken(lower) {
			return nil, configErr("%q is not a header name", name)
		}
		if lower == "authorization" {
			return nil, configErr("authorization cannot be signed")
		}
		if !seen[lower] {
			seen[lower] = true
			extra = append(extra, lower)
		}
	}
	all := len(extra)
	for _, fixed := range []string{"host", "content-type"} {
		if !seen[fixed] {
			all++
		}
	}
	if all > MaxSignedHeaders {
		return nil, configErr("at most %d headers can be signed", MaxSignedHeaders)
	}
	sort.Strings(extra)
	return &Signer{keyID: keyID, secret: append([]byte(nil), secret...), extra: extra}, nil
}

// NewSignerBase64 makes a signer whose secret is standard base64 with padding.
func NewSignerBase64(keyID, secretBase64 string, extraHeaders ...string) (*Signer, error) {
	secret, err := decodeSecret(secretBase64, "the secret")
	if err != nil {
		return nil, err
	}
	return NewSigner(keyID, secret, extraHeaders...)
}

// SignerFromEnv makes a signer from two environment variables: the key id,
// and the secret in standard base64 with padding. Empty names mean
// DefaultKeyIDVar and DefaultSecretVar. Errors name the variable at fault
// and never show the secret.
func SignerFromEnv(keyIDVar, secretVar string, extraHeaders ...string) (*Signer, error) {
	if keyIDVar == "" {
		keyIDVar = DefaultKeyIDVar
	}
	if secretVar == "" {
		secretVar = DefaultSecretVar
	}
	keyID := strings.TrimSpace(os.Getenv(keyIDVar))
	if keyID == "" {
		return nil, configErr("environment variable %s (the key id) is not set", keyIDVar)
	}
	if !validKeyID(keyID) {
		return nil, configErr("environment variable %s: key id %q is not 1 to 64 characters from A-Z a-z 0-9 . _ ~ -", keyIDVar, keyID)
	}
	text := os.Getenv(secretVar)
	if strings.TrimSpace(text) == "" {
		return nil, configErr("environment variable %s (the secret, standard base64) is not set", secretVar)
	}
	secret, err := decodeSecret(text, "environment variable "+secretVar)
	if err != nil {
		return nil, err
	}
	return NewSigner(keyID, secret, extraHeaders...)
}

func decodeSecret(text, what string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if len(text)%4 != 0 || strings.ContainsAny(text, "\r\n") {
		return nil, configErr("%s is not standard base64 with padding (A-Z a-z 0-9 + /, '=' to a multiple of 4)", what)
	}
	secret, err := base64.StdEncoding.Strict().DecodeString(text)
	if err != nil {
		return nil, configErr("%s is not standard base64 with padding (A-Z a-z 0-9 + /, '=' to a multiple of 4)", what)
	}
	if len(secret) < MinSecretBytes {
		return nil, configErr("%s decodes to %d bytes; a secret needs at least %d", what, len(secret), MinSecretBytes)
	}
	return secret, nil
}

// KeyID is the key id this signer signs with.
func (s *Signer) KeyID() string { return s.keyID }

// ExtraHeaders are the names signed besides host and content-type.
func (s *Signer) ExtraHeaders() []string { return append([]string(nil), s.extra...) }

// String shows the key id, never the secret.
func (s *Signer) String() string { return fmt.Sprintf("towerhmac.Signer{key id %q}", s.keyID) }

// Signed is one signature: what was signed and what it added to the request.
type Signed struct {
	KeyID         string
	Time          uint64
	Nonce         string
	SignedHeaders string
	// StringToSign is exactly what was signed: lines joined by "\n", none after the last.
	StringToSign string
	// Signature is the Signature parameter, and for signed chunks the seed.
	Signature     string
	Authorization string
	// ContentDigest is the Content-Digest sent, "" for signed chunks.
	ContentDigest string
	Chunked       bool

	key []byte
}

// Sign signs req for a body held in memory (nil for none): it sets Host
// (req.Host, from the URL if empty), Content-Digest and Authorization. It
// does not touch req.Body: send exactly body.
func (s *Signer) Sign(req *http.Request, body []byte) (*Signed, error) {
	digest := sha256.Sum256(body)
	return s.sign(req, &digest)
}

// SignDigest signs req for a body whose SHA-256 was computed beforehand (a
// file hashed, then streamed), declaring it in Content-Digest.
func (s *Signer) SignDigest(req *http.Request, digest [32]byte) (*Signed, error) {
	return s.sign(req, &digest)
}

// SignChunked signs req for a body whose digest is not known in advance,
// and replaces req.Body (nil: empty) with that body in signed chunks: one
// chunk per read of the body (at most DefaultChunkSize bytes), then the
// signed last chunk. It sets X-HMAC-Body: chunks, removes Content-Digest and
// makes the length unknown (ContentLength -1: sent with Transfer-Encoding:
// chunked). The body cannot be replayed (GetBody is cleared).
func (s *Signer) SignChunked(req *http.Request) (*Signed, error) {
	return s.signChunked(req, DefaultChunkSize)
}

func (s *Signer) signChunked(req *http.Request, chunkSize int) (*Signed, error) {
	signed, err := s.sign(req, nil)
	if err != nil {
		return nil, err
	}
	req.Body = signed.Frame(req.Body, chunkSize)
	req.ContentLength = -1
	req.GetBody = nil
	deleteHeader(req.Header, "Content-Length")
	return signed, nil
}

// sign builds the string-to-sign (PROTOCOL §4) and sets the headers;
// digest nil means signed chunks (§4.6).
func (s *Signer) sign(req *http.Request, digest *[32]byte) (*Signed, error) {
	if s == nil || len(s.secret) == 0 {
		return nil, errors.New("towerhmac: a Signer must be made with NewSigner, NewSignerBase64 or SignerFromEnv")
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !isMethod(method) {
		return nil, fmt.Errorf("towerhmac: not an HTTP method: %q", method)
	}
	if req.URL == nil {
		return nil, errors.New("towerhmac: request without a URL")
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if host == "" {
		return nil, errors.New("towerhmac: no Host, and the URL has no host to take it from")
	}
	if !printableASCII(host) || strings.ContainsAny(host, "/%") {
		return nil, fmt.Errorf("towerhmac: host %q would not be sent as it is (use its ASCII form, no zone)", host)
	}
	// What net/http sends: the Host field, and RequestURI as the target.
	req.Host = host
	target := req.URL.RequestURI()
	if !strings.HasPrefix(target, "/") || !printableASCII(target) {
		return nil, fmt.Errorf("towerhmac: request target %q is not an origin-form path", target)
	}
	path, query := target, ""
	if i := strings.IndexByte(target, '?'); i >= 0 {
		path, query = target[:i], target[i+1:]
	}

	if req.Header == nil {
		req.Header = http.Header{}
	}
	names := append([]string{"host"}, s.extra...)
	if hasHeader(req.Header, "content-type") {
		names = append(names, "content-type")
	}
	names = uniqueSorted(names)
	signedHeaders := strings.Join(names, ";")

	var when time.Time
	if s.Now != nil {
		when = s.Now()
	} else {
		when = time.Now()
	}
	if when.Unix() < 0 {
		return nil, errors.New("towerhmac: signing time before the Unix epoch")
	}
	unix := uint64(when.Unix())
	nonce, err := s.nonce()
	if err != nil {
		return nil, err
	}

	lines := []string{Scheme, s.keyID, strconv.FormatUint(unix, 10), nonce, method, path, query, signedHeaders}
	for _, name := range names {
		var values []string
		if name == "host" {
			values = []string{host}
		} else {
			values = headerValues(req.Header, name)
		}
		for i, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, fmt.Errorf("towerhmac: header %s contains CR, LF or NUL", name)
			}
			values[i] = strings.Trim(v, " \t")
		}
		lines = append(lines, name+":"+strings.Join(values, ","))
	}
	if digest == nil {
		lines = append(lines, ChunkedBodyLine)
	} else {
		lines = append(lines, hex.EncodeToString(digest[:]))
	}
	stringToSign := strings.Join(lines, "\n")
	signature := mac(s.secret, stringToSign)

	signed := &Signed{
		KeyID:         s.keyID,
		Time:          unix,
		Nonce:         nonce,
		SignedHeaders: signedHeaders,
		StringToSign:  stringToSign,
		Signature:     signature,
		Authorization: fmt.Sprintf("%s Key=%s, Time=%d, Nonce=%s, SignedHeaders=%s, Signature=%s", Scheme, s.keyID, unix, nonce, signedHeaders, signature),
		Chunked:       digest == nil,
		key:           s.secret,
	}
	deleteHeader(req.Header, "Authorization")
	deleteHeader(req.Header, "Content-Digest")
	deleteHeader(req.Header, BodyHeader)
	if digest == nil {
		req.Header.Set(BodyHeader, BodyHeaderChunks)
	} else {
		signed.ContentDigest = ContentDigest(*digest)
		req.Header.Set("Content-Digest", signed.ContentDigest)
	}
	req.Header.Set("Authorization", signed.Authorization)
	return signed, nil
}

func (s *Signer) nonce() (string, error) {
	if s.Nonce != nil {
		nonce, err := s.Nonce()
		if err != nil {
			return "", err
		}
		if len(nonce) < 16 || len(nonce) > 64 || strings.Trim(nonce, base64url) != "" {
			return "", fmt.Errorf("towerhmac: nonce %q is not 16 to 64 characters from A-Z a-z 0-9 _ -", nonce)
		}
		return nonce, nil
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("towerhmac: no randomness for a nonce: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// ContentDigest is the Content-Digest value (RFC 9530) declaring a SHA-256.
func ContentDigest(digest [32]byte) string {
	return "sha-256=:" + base64.StdEncoding.EncodeToString(digest[:]) + ":"
}

// ParseContentDigest returns the sha-256 member of a Content-Digest value;
// ok is false when it has none. A malformed or repeated member is an error
// (a server answers malformed_content_digest).
func ParseContentDigest(value string) (digest [32]byte, ok bool, err error) {
	for _, member := range strings.Split(value, ",") {
		name, rest, hasEq := strings.Cut(strings.Trim(member, " \t"), "=")
		if strings.TrimSpace(name) != "sha-256" {
			continue
		}
		rest = strings.Trim(rest, " \t")
		if !hasEq || len(rest) < 2 || rest[0] != ':' || rest[len(rest)-1] != ':' {
			return digest, false, errors.New("towerhmac: Content-Digest: the sha-256 member is not a byte sequence")
		}
		if ok {
			return digest, false, errors.New("towerhmac: Content-Digest: the sha-256 member is repeated")
		}
		decoded, derr := base64.StdEncoding.Strict().DecodeString(rest[1 : len(rest)-1])
		if derr != nil || strings.ContainsAny(rest, "\r\n") {
			return digest, false, errors.New("towerhmac: Content-Digest: the sha-256 member is not base64")
		}
		if len(decoded) != 32 {
			return digest, false, fmt.Errorf("towerhmac: Content-Digest: the sha-256 member is %d bytes, not 32", len(decoded))
		}
		copy(digest[:], decoded)
		ok = true
	}
	return digest, ok, nil
}

var lineNames = []string{"scheme", "key id", "time", "nonce", "method", "path", "query", "signed headers"}

// Explain shows the string-to-sign line by line, and as one JSON string, to
// diff with what a server built.
func (s *Signed) Explain() string {
	lines := strings.Split(s.StringToSign, "\n")
	headersEnd := 8 + len(strings.Split(s.SignedHeaders, ";"))
	var b strings.Builder
	fmt.Fprintf(&b, "string-to-sign (%d lines, joined by \\n, none after the last):\n", len(lines))
	for i, line := range lines {
		what := "body sha-256"
		switch {
		case i < 8:
			what = lineNames[i]
		case i < headersEnd:
			what = "header"
		case s.Chunked:
			what = "chunked body"
		}
		quoted := strconv.QuoteToASCII(line)
		fmt.Fprintf(&b, "%3d  %-15s %s\n", i+1, what, quoted[1:len(quoted)-1])
	}
	fmt.Fprintf(&b, "as JSON: %s\n", jsonString(s.StringToSign))
	fmt.Fprintf(&b, "Authorization: %s", s.Authorization)
	if s.ContentDigest != "" {
		fmt.Fprintf(&b, "\nContent-Digest: %s", s.ContentDigest)
	}
	if s.Chunked {
		fmt.Fprintf(&b, "\n%s: %s", BodyHeader, BodyHeaderChunks)
	}
	return b.String()
}

func mac(key []byte, message string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(message))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

const base64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func validKeyID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(isAlnum(c) || c == '.' || c == '_' || c == '~' || c == '-') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isTokenByte(c byte) bool {
	return isAlnum(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isToken: a lowercase RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) || s[i] >= 'A' && s[i] <= 'Z' {
			return false
		}
	}
	return true
}

func isMethod(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return s != ""
}

// headerValues: every value of every key naming this header, as net/http
// writes them (keys in sorted order, values in order).
func headerValues(h http.Header, lowerName string) []string {
	var keys []string
	for k := range h {
		if strings.EqualFold(k, lowerName) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var values []string
	for _, k := range keys {
		values = append(values, h[k]...)
	}
	return values
}

func hasHeader(h http.Header, lowerName string) bool {
	for k, v := range h {
		if strings.EqualFold(k, lowerName) && len(v) > 0 {
			return true
		}
	}
	return false
}

func deleteHeader(h http.Header, name string) {
	for k := range h {
		if strings.EqualFold(k, name) {
			delete(h, k)
		}
	}
}

func uniqueSorted(names []string) []string {
	sort.Strings(names)
	out := names[:0]
	for i, n := range names {
		if i == 0 || n != names[i-1] {
			out = append(out, n)
		}
	}
	return out
}

func jsonString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
