package users

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's costs. The ones a hash was made with are stored in
// it (the PHC string), so the defaults can change without breaking sign-in
// for passwords set before.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultParams are the costs of new hashes: 64 MiB, one pass, two lanes
// (the OWASP choice for argon2id; about 0.1 s on one core).
var DefaultParams = Params{Memory: 64 * 1024, Time: 1, Threads: 2}

const (
	saltLen = 16
	keyLen  = 32
	// The bounds of a stored hash's parameters: a corrupted or hostile row
	// must not make a sign-in take gigabytes or minutes.
	maxMemory  = 1 << 20 // 1 GiB
	maxTime    = 16
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
)

var b64 = base64.RawStdEncoding.Strict()

// HashPassword returns password's argon2id hash as a PHC string,
// $argon2id$v=19$m=65536,t=1,p=2$SALT$HASH, with a random 16-byte salt.
func HashPassword(password string, p Params) string {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (it panics instead)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return formatPHC(p, salt, key)
}

func formatPHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// CheckPassword says whether password is the one hashed in phc, hashing it
// with the parameters and salt stored there; the hashes are compared in
// constant time. A malformed phc is an error.
func CheckPassword(phc, password string) (bool, error) {
	p, salt, key, err := ParsePHC(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

var errPHC = errors.New("not an argon2id PHC string ($argon2id$v=19$m=M,t=T,p=P$SALT$HASH)")

// ParsePHC reads an argon2id PHC string as HashPassword writes it: version
// 19, the parameters in the order m, t, p as decimal numbers without
// leading zeros, salt and hash in unpadded standard base64. The parameters,
// the salt's and the hash's lengths are bounded (see maxMemory).
func ParsePHC(s string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errPHC
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return p, nil, nil, errPHC
	}
	var v [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		num, ok := strings.CutPrefix(kv[i], name)
		if !ok || num == "" || num[0] == '0' || len(num) > 10 {
			return p, nil, nil, errPHC
		}
		for _, c := range []byte(num) {
			if c < '0' || c > '9' {
				return p, nil, nil, errPHC
			}
		}
		v[i], _ = strconv.ParseUint(num, 10, 64) // at most 10 digits: fits
	}
	if v[2] > 255 || v[1] > maxTime || v[0] > maxMemory || v[0] < 8*v[2] {
		return p, nil, nil, fmt.Errorf("argon2id parameters m=%d,t=%d,p=%d out of range (m at most %d and at least 8*p, t at most %d, p at most 255)", v[0], v[1], v[2], maxMemory, maxTime)
	}
	p = Params{Memory: uint32(v[0]), Time: uint32(v[1]), Threads: uint8(v[2])}
	// encoding/base64 skips \r and \n inside its input: refuse them (and
	// anything else outside the alphabet) first, so that one hash has one
	// spelling.
	if !isBase64(parts[4]) || !isBase64(parts[5]) {
		return Params{}, nil, nil, errPHC
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return Params{}, nil, nil, fmt.Errorf("argon2id salt: want %d to %d bytes of unpadded base64", minSaltLen, maxSaltLen)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return Params{}, nil, nil, fmt.Errorf("argon2id hash: want %d to %d bytes of unpadded base64", minKeyLen, maxKeyLen)
	}
	return p, salt, key, nil
}

func isBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// passwordAlphabet leaves out the characters people confuse: 0 O o, 1 l I.
const passwordAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// GeneratePassword returns 20 random characters of an unambiguous alphabet
// (56 characters: 116 bits), for a new account or a reset.
func GeneratePassword() string { return randomString(20, passwordAlphabet) }

// randomString returns n characters of alphabet from crypto/rand, each
// equally likely (bytes past the last whole multiple of len(alphabet) are
// drawn again).
func randomString(n int, alphabet string) string {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		_, _ = rand.Read(buf)
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}
