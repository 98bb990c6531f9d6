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
// errors.Join) through name, which returns the name to show (a flag such as
// "--kubelet-port") and whether it knows the option, and, when text is not
// nil, the words of its reason through text (which names the other options
// a reason mentions the same way). Errors that are not *Error, or whose
// option name does not know, stay as they are. The result keeps errors.Is
// and errors.As working.
func Rename(err error, name func(option string) (string, bool), text func(reason string) string) error {
	if err == nil {
		return nil
	}
	// Deliberately not errors.As: a %w wrapper around an *Error has already
	// printed its option into its own text, which a rename could not reach.
	if oe, ok := err.(*Error); ok { //nolint:errorlint // see above
		n, known := name(oe.Option)
		if !known {
			n = oe.Option
		}
		reason := oe.Err
		if text != nil {
			if msg := text(reason.Error()); msg != reason.Error() {
				reason = &reworded{msg: msg, err: reason}
			}
		}
		return &Error{Option: n, Err: reason}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Rename(e, name, text))
		}
		return errors.Join(out...)
	}
	return err
}

// reworded is a reason whose text was rewritten; it still unwraps to the
// original, so errors.Is finds what the original wrapped.
type reworded struct {
	msg string
	err error
}

func (r *reworded) Error() string { return r.msg }
func (r *reworded) Unwrap() error { return r.err }

// Names lists the options the *Errors in err name (one error or a tree of
// errors.Join), in order; an error in the tree that is not an *Error is
// listed as "not an option error: <text>", so that a test comparing the
// list sees it. Tests of every role's Validate read their results this way.
func Names(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var names []string
		for _, e := range j.Unwrap() {
			names = append(names, Names(e)...)
		}
		return names
	}
	var oe *Error
	if errors.As(err, &oe) {
		return []string{oe.Option}
	}
	return []string{"not an option error: " + err.Error()}
}
