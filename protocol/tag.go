package protocol

import (
	"fmt"
	"regexp"
)

var validTag = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// CheckTag reports whether tag can name a container for other sessions of
// its account: 1 to 63 lower-case letters, digits, '.', '_' or '-',
// starting with a letter or digit.
func CheckTag(tag string) error {
	if !validTag.MatchString(tag) {
		return fmt.Errorf("tag %q: use 1-63 of a-z 0-9 . _ - starting with a letter or digit: %w", tag, ErrInvalid)
	}
	return nil
}
