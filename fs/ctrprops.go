package fs

import (
	"strings"
	"syscall"

	"github.com/tffs/tffs/sdk"
)

// The checks and parsing of what is written to a container's or a
// process's property files (cmd, env, tag).

// checkEnv accepts KEY=VALUE lines (blank lines are skipped).
func checkEnv(s string) error {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.Contains(l, "=") {
			return failf(syscall.EINVAL, "env: %q is not KEY=VALUE", l)
		}
	}
	return nil
}

// envLines is the non-blank lines of an env property, trimmed.
func envLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// splitCommand splits a command line into words. Rules: words are
// separated by blanks; 'single quotes' keep everything literally; inside
// "double quotes" a backslash escapes \ " $ and `; outside quotes a
// backslash escapes any character. No expansion of any kind happens.
func splitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, failf(syscall.EINVAL, "command: unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, failf(syscall.EINVAL, "command: unterminated double quote")
			}
			inWord = true
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, failf(syscall.EINVAL, "command: trailing backslash")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// checkTag accepts an empty tag (none) or a valid one.
func checkTag(s string) error {
	if t := strings.TrimSpace(s); t != "" {
		return sdk.CheckTag(t)
	}
	return nil
}
