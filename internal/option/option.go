// Package option is the error every role package's Options.Validate returns:
// it names the option by its Options field (for example "Kubelet.Port"), not
// by a command-line flag, because flags are cmd/'s business. cmd/panoptes
// maps each field to the flag it bound, so that a user reads
// "--kubelet-port: must be between 1 and 65535". It imports only the
// standard library.
package option

import (
	"errors"
	"fmt"
)

// Error is one invalid option.
type Error struct {
	// Option is the Options field path, e.g. "MetricResolution" or
	// "Kubelet.RequestTimeout".
	Option string
	// Err says what is wrong and what would be right.
	Err error
}

// Invalid returns an *Error for option with a formatted reason.
func Invalid(option, format string, args ...any) *Error {
	return &Error{Option: option, Err: fmt.Errorf(format, args...)}
}

func (e *Error) Error() string { return e.Option + ": " + e.Err.Error() }

// Unwrap returns the reason.
func (e *Error) Unwrap() error { return e.Err }

// Rename rewrites the Option of every *Error in err (one error, or a tree of
// errors.Join and %w wraps) through name, which returns the name to show
// (a flag such as "--kubelet-port") and whether it knows the option. Errors
// that are not *Error, or whose option name does not know, stay as they
// are. The result keeps errors.Is and errors.As working.
func Rename(err error, name func(option string) (string, bool)) error {
	if err == nil {
		return nil
	}
	var oe *Error
	if errors.As(err, &oe) && err == error(oe) {
		if n, ok := name(oe.Option); ok {
			return &Error{Option: n, Err: oe.Err}
		}
		return err
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Rename(e, name))
		}
		return errors.Join(out...)
	}
	return err
}
