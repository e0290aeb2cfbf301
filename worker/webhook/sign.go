package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// secretPrefix marks a Standard Webhooks secret; the rest is the key in
// base64.
const secretPrefix = "whsec_"

// minKeyBytes is the least key size the specification allows (24 bytes);
// the specification recommends 32 or more.
const minKeyBytes = 24

// Secret is a signing key. Its String never shows the key.
type Secret struct{ key []byte }

// ParseSecret reads a whsec_ secret as the specification writes it: the
// prefix, then the key in standard base64.
func ParseSecret(s string) (Secret, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, secretPrefix) {
		return Secret{}, errors.New("webhook secret: must start with whsec_ followed by a base64 key (for example whsec_ and 32 random bytes in base64)")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, secretPrefix))
	if err != nil {
		return Secret{}, errors.New("webhook secret: the part after whsec_ is not valid base64")
	}
	if len(key) < minKeyBytes {
		return Secret{}, fmt.Errorf("webhook secret: the key is %d bytes; it needs at least %d (32 recommended)", len(key), minKeyBytes)
	}
	return Secret{key: key}, nil
}

// String implements fmt.Stringer without revealing the key.
func (s Secret) String() string { return secretPrefix + "****" }

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return len(s.key) == 0 }

// Sign returns the webhook-signature header value for one message:
// "v1," and the base64 HMAC-SHA256 of "id.timestamp.body".
func (s Secret) Sign(id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
