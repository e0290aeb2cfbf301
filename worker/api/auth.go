package api

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Tokens are the bearer tokens the API accepts.
type Tokens struct {
	// Each token's SHA-256: comparing digests of equal length in constant
	// time says nothing about a token's length or prefix.
	sums [][sha256.Size]byte
}

// ParseTokens reads comma-separated tokens (ROOMCAST_API_TOKENS).
func ParseTokens(list string) (Tokens, error) {
	var t Tokens
	for _, tok := range strings.Split(list, ",") {
		if err := t.add(tok); err != nil {
			return Tokens{}, err
		}
	}
	return t, nil
}

// LoadTokens reads one token per line from a file (--api-tokens-file);
// blank lines and lines starting with # are skipped.
func LoadTokens(path string) (Tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return Tokens{}, fmt.Errorf("api-tokens-file: %w", err)
	}
	defer f.Close()
	var t Tokens
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if err := t.add(s); err != nil {
			return Tokens{}, fmt.Errorf("api-tokens-file: line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return Tokens{}, fmt.Errorf("api-tokens-file: %w", err)
	}
	return t, nil
}

// minToken keeps a guessable token out of service.
const minToken = 6

func (t *Tokens) add(tok string) error {
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return nil
	}
	if len(tok) < minToken {
		return fmt.Errorf("an API token must be at least %d characters", minToken)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return errors.New("an API token must not contain white space")
	}
	t.sums = append(t.sums, sha256.Sum256([]byte(tok)))
	return nil
}

// Merge returns the tokens of both.
func (t Tokens) Merge(o Tokens) Tokens {
	return Tokens{sums: append(append([][sha256.Size]byte{}, t.sums...), o.sums...)}
}

// Len is the number of tokens.
func (t Tokens) Len() int { return len(t.sums) }

// Valid reports whether r carries one of the tokens.
func (t Tokens) Valid(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	found := 0
	for i := range t.sums {
		found |= subtle.ConstantTimeCompare(sum[:], t.sums[i][:])
	}
	return found == 1
}
