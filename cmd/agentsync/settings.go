package main

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/alecthomas/kong"
)

// Settings are fields of the command structs, read by kong: a flag given
// on the command line wins, then the environment variable named by the
// field's envvar tag, then the field's default. Values from the
// environment are never shown in --help, so a secret there cannot leak
// through it.
//
// The variable is named by envvar, not by kong's env tag: kong reads env
// tags with os.LookupEnv, and a command reads the environment its app was
// given (tests run commands in-process, each with an environment of its
// own). envResolver reads it instead, through kong's resolver hook.

// envResolver resolves the flags not given on the command line from the
// app's environment. Its values carry their variable, so that a value the
// mappers refuse is named by it.
func envResolver(getenv func(string) string) kong.Resolver {
	return kong.ResolverFunc(func(_ *kong.Context, _ *kong.Path, f *kong.Flag) (any, error) {
		name := f.Tag.Get("envvar")
		if name == "" {
			return nil, nil
		}
		v := getenv(name)
		if v == "" {
			return nil, nil
		}
		return envValue{name: name, value: v}, nil
	})
}

// envValue is a setting's value read from its environment variable.
type envValue struct{ name, value string }

// token returns the value of the next token of ctx and how a message
// names where it came from: the variable or the flag as given first, then
// the other way to give the setting (see settingName).
func token(ctx *kong.DecodeContext) (value, name string, err error) {
	t, err := ctx.Scan.PopValue("value")
	if err != nil {
		return "", "", err
	}
	flag, env := "--"+ctx.Value.Name, ctx.Value.Tag.Get("envvar")
	switch v := t.Value.(type) {
	case envValue:
		return v.value, settingName(env, flag, false), nil
	case string:
		return v, settingName(env, flag, true), nil
	}
	return "", "", fmt.Errorf("--%s: unexpected value %v", ctx.Value.Name, t.Value)
}

// settingName names a setting in a message: the way the user gave it
// first (the flag when typed on the command line, else the variable), then
// the other way in parentheses, so that a user who set it in a file of
// variables finds the flag in --help and the other way round.
func settingName(env, flag string, fromFlag bool) string {
	switch {
	case env == "":
		return flag
	case fromFlag:
		return flag + " (" + env + ")"
	}
	return env + " (" + flag + ")"
}

// settingError is a value a setting refused, named as the user gave it.
type settingError struct {
	name, value string
	err         error
}

func (e *settingError) Error() string { return fmt.Sprintf("%s %q: %v", e.name, e.value, e.err) }

func (e *settingError) Unwrap() error { return e.err }

// stringMapper decodes a string setting, from the command line or the
// environment.
type stringMapper struct{}

func (stringMapper) Decode(ctx *kong.DecodeContext, target reflect.Value) error {
	v, _, err := token(ctx)
	if err != nil {
		return err
	}
	target.SetString(v)
	return nil
}

// errNotBool is the error for a boolean setting that is neither true nor
// false.
var errNotBool = errors.New("want true or false (also 1/0, yes/no, on/off)")

// parseBool reads the usual spellings of a boolean, in any case.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, errNotBool
}

// boolMapper decodes a boolean setting: a flag alone is true, and a value
// (--run-on-start=off, SYNC_RUN_ON_START=yes) takes the spellings of
// parseBool; anything else is an error, not off.
type boolMapper struct{}

func (boolMapper) IsBool() bool { return true }

func (boolMapper) Decode(ctx *kong.DecodeContext, target reflect.Value) error {
	if ctx.Scan.Peek().Type != kong.FlagValueToken {
		target.SetBool(true)
		return nil
	}
	v, name, err := token(ctx)
	if err != nil {
		return err
	}
	b, err := parseBool(v)
	if err != nil {
		return &settingError{name: name, value: v, err: err}
	}
	target.SetBool(b)
	return nil
}

// commandLineError is a mistake on the command line, as opposed to one in
// a setting's value: its message ends with where to find the flags.
type commandLineError struct{ msg string }

func (e *commandLineError) Error() string { return e.msg }

// canonicalArgs spells every flag of args as kong reads it, --name or
// --name=value, for the command whose flags are flags: the standard
// library's flag package, which agentsync used first, also took -name and
// a value that starts with a dash (--max-deleted-count -3), and scripts may
// rely on both. A flag that is none of the command's is an error naming it
// as typed.
func canonicalArgs(args []string, flags []*kong.Flag) ([]string, error) {
	byName := map[string]*kong.Flag{}
	for _, f := range flags {
		byName[f.Name] = f
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return append(out, args[i:]...), nil
		}
		if len(arg) < 2 || arg[0] != '-' {
			out = append(out, arg)
			continue
		}
		typed, value, hasValue := strings.Cut(arg, "=")
		name := strings.TrimPrefix(strings.TrimPrefix(typed, "-"), "-")
		if name == "h" {
			name = "help"
		}
		f, ok := byName[name]
		if !ok || name == "" {
			return nil, &commandLineError{"unknown flag " + typed}
		}
		switch {
		case hasValue:
			out = append(out, "--"+name+"="+value)
		case f.IsBool():
			out = append(out, "--"+name)
		case i+1 < len(args):
			i++
			out = append(out, "--"+name+"="+args[i])
		default:
			return nil, &commandLineError{"flag needs an argument: --" + name}
		}
	}
	return out, nil
}

// settingFlags maps the environment variable of each of a command's
// settings to its flag.
func settingFlags(flags []*kong.Flag) map[string]string {
	out := map[string]string{}
	for _, f := range flags {
		if env := f.Tag.Get("envvar"); env != "" {
			out[env] = "--" + f.Name
		}
	}
	return out
}

// given lists the environment variables of the settings given on the
// command line instead.
func given(kctx *kong.Context) map[string]bool {
	out := map[string]bool{}
	for _, p := range kctx.Path {
		if p.Flag == nil || p.Resolved {
			continue
		}
		if env := p.Flag.Tag.Get("envvar"); env != "" {
			out[env] = true
		}
	}
	return out
}

// explain returns err's message with every environment variable of the
// command's settings named as settingName does: errors name settings by
// their variable (so do those of the packages that validate them, such as
// tenants and extract), and the user who typed --jitter should read
// --jitter first, and the one who set SYNC_JITTER its flag too. A message
// that names the flag already is left as it is.
func explain(err error, flags map[string]string, fromFlag map[string]bool) string {
	msg := err.Error()
	for env, flag := range flags {
		if regexp.MustCompile(regexp.QuoteMeta(flag) + `\b`).MatchString(msg) {
			continue // the message names both already
		}
		msg = regexp.MustCompile(`\b`+regexp.QuoteMeta(env)+`\b`).ReplaceAllLiteralString(msg, settingName(env, flag, fromFlag[env]))
	}
	return msg
}
