package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ValidTopicName reports whether s may be used as a topic name, or as one
// segment of a topic built from a user-supplied name: it must be non-empty
// valid UTF-8 and must not contain the wildcards '+' and '#' or control
// characters (U+0000–U+001F, U+007F–U+009F). Slashes are allowed, since
// Zigbee2MQTT friendly names may contain them.
func ValidTopicName(s string) error {
	if s == "" {
		return errors.New("topic name is empty")
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("topic name %q is not valid UTF-8", s)
	}
	if len(s) > 65535 {
		return fmt.Errorf("topic name is %d bytes long, the limit is 65535", len(s))
	}
	if i := strings.IndexAny(s, "+#"); i >= 0 {
		return fmt.Errorf("topic name %q contains the wildcard %q", s, s[i])
	}
	for _, r := range s {
		if r <= 0x1f || (r >= 0x7f && r <= 0x9f) {
			return fmt.Errorf("topic name %q contains the control character %U", s, r)
		}
	}
	return nil
}
