package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Exit statuses shared by every command.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2 // bad command line or configuration
)

// app is one invocation of the command: its output streams and environment,
// injected so that tests run commands in-process.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

func newApp(stdout, stderr io.Writer, getenv func(string) string) *app {
	return &app{stdout: stdout, stderr: stderr, getenv: getenv}
}

// command is one subcommand of agentsync.
type command struct {
	name    string
	args    string // argument synopsis for help
	summary string
	run     func(ctx context.Context, a *app, args []string) int
	exits   exitStatuses
}

// exitStatuses say what each exit status of a command means, for its help.
type exitStatuses map[int]string

// usageExit is the meaning of exitUsage, the same for every command.
const usageExit = "bad command line or configuration"

func commands() []command {
	return []command{
		{"migrate", "[up|down|status]", "apply, roll back one, or list the database migrations", runMigrate,
			exitStatuses{exitOK: "done", exitFailure: "a migration or the database failed", exitUsage: usageExit}},
		{"sync", "", "sync the tenants' scan agents into PostgreSQL once, now", runSync,
			exitStatuses{
				exitOK:      "every tenant's sync succeeded, or another process was syncing it",
				exitFailure: "a tenant's sync failed: nothing of it changed but its failed run's row in defender.sync_runs; the other tenants are committed",
				exitUsage:   usageExit,
			}},
		{"run", "", "sync the tenants on SYNC_SCHEDULE until SIGINT or SIGTERM", runDaemon,
			exitStatuses{exitOK: "stopped by SIGINT or SIGTERM", exitFailure: "could not start (database, migrations, listener)", exitUsage: usageExit}},
		{"fetch", "", "fetch and normalize the agents, print one JSON object per line; no database", runFetch,
			exitStatuses{exitOK: "every agent was fetched", exitFailure: "the fetch failed", exitUsage: usageExit}},
		{"demo", "", "run the whole job against a simulated tenant and show what the history tells", runDemo,
			exitStatuses{exitOK: "the demo ran", exitFailure: "no usable PostgreSQL, or the demo failed", exitUsage: usageExit}},
		{"simulate", "", "serve simulated Defender tenants over HTTP, for trials and docker compose", runSimulate,
			exitStatuses{exitOK: "stopped by SIGINT or SIGTERM", exitFailure: "could not listen or serve", exitUsage: usageExit}},
		{"status", "", "per tenant: last success and failure, agents, stale agents; --json", runStatus,
			exitStatuses{
				exitOK:      "every configured tenant's latest sync succeeded, within two schedule periods",
				exitFailure: "a configured tenant's latest sync failed, or none succeeded within two schedule periods",
				exitUsage:   usageExit,
			}},
		{"report", "", "write a self-contained HTML report of the history, with charts", runReport,
			exitStatuses{exitOK: "the report was written", exitFailure: "the database, or the tenant asked for, could not be read; or the file not written", exitUsage: usageExit}},
		{"version", "", "print version, commit and Go version (also --version)", runVersion,
			exitStatuses{exitOK: "always", exitUsage: usageExit}},
	}
}

// lookupCommand returns the command called name.
func lookupCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func (a *app) main(ctx context.Context, args []string) int {
	if len(args) == 0 {
		a.usage(a.stderr)
		return exitUsage
	}
	switch name := args[0]; {
	case isHelp(name):
		a.usage(a.stdout)
		return exitOK
	case name == "--version" || name == "-version":
		return runVersion(ctx, a, args[1:])
	case name == "help":
		// "agentsync help CMD" is "agentsync CMD --help".
		switch len(args) {
		case 1:
			a.usage(a.stdout)
			return exitOK
		case 2:
			if c, ok := lookupCommand(args[1]); ok {
				return c.run(ctx, a, []string{"--help"})
			}
			fmt.Fprintf(a.stderr, "agentsync help: unknown command %q; run \"agentsync --help\" for the commands\n", args[1])
		default:
			fmt.Fprintf(a.stderr, "agentsync help: want one command, got %q\n", args[1:])
		}
		return exitUsage
	case strings.HasPrefix(name, "-"):
		flagName, _, _ := strings.Cut(name, "=")
		fmt.Fprintf(a.stderr, "agentsync: unknown flag %s; flags go after the command: run \"agentsync --help\" for the commands\n", flagName)
		return exitUsage
	}
	if c, ok := lookupCommand(args[0]); ok {
		return c.run(ctx, a, args[1:])
	}
	fmt.Fprintf(a.stderr, "agentsync: unknown command %q; run \"agentsync --help\" for the commands\n", args[0])
	return exitUsage
}

func (a *app) usage(w io.Writer) {
	fmt.Fprint(w, "agentsync syncs Microsoft Defender authenticated scan agents into PostgreSQL, with history.\n\nUsage:\n  agentsync <command> [flags]\n  agentsync help <command>\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun \"agentsync <command> --help\" for a command's flags, environment variables and exit statuses.\n")
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help"
}

// flagSet is a flag.FlagSet whose settings also come from environment
// variables: a flag given on the command line wins, then the variable, then
// the default. Values from the environment are never shown in --help, so a
// secret in the environment cannot leak through it.
type flagSet struct {
	*flag.FlagSet
	app         *app
	command     string
	synopsis    string
	description string
	settings    []envSetting
	// fromFlag holds the environment variables whose setting the command
	// line gave instead, so that errors name the flag the user typed.
	fromFlag map[string]string
}

// envSetting is a setting with a flag and an environment variable.
type envSetting struct {
	flag, env, def string
	// set stores a value read from the environment, or the default.
	set func(string) error
}

func (a *app) newFlagSet(c string, synopsis, description string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(c, flag.ContinueOnError), app: a, command: c, synopsis: synopsis, description: description}
	// Parse reports errors itself, in one line, and --help goes to stdout.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// printHelp writes the command's help: synopsis, description, flags with
// their placeholders, variables and defaults, and exit statuses.
func (fs *flagSet) printHelp(w io.Writer) {
	synopsis := "agentsync " + fs.command
	var flags strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		placeholder, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(&flags, "  --%s", f.Name)
		if placeholder != "" {
			fmt.Fprintf(&flags, " %s", placeholder)
		}
		fmt.Fprintf(&flags, "\n      %s\n", usage)
	})
	if flags.Len() > 0 {
		synopsis += " [flags]"
	}
	if fs.synopsis != "" {
		synopsis += " " + fs.synopsis
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", synopsis, fs.description)
	if flags.Len() > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s", flags.String())
	}
	if c, ok := lookupCommand(fs.command); ok && len(c.exits) > 0 {
		fmt.Fprint(w, "\nExit status:\n")
		for _, code := range slices.Sorted(maps.Keys(c.exits)) {
			fmt.Fprintf(w, "  %d  %s\n", code, c.exits[code])
		}
	}
}

// settingHelp completes the usage of a setting with its variable and its
// default. Defaults show as they would be typed: 10, 30s, @hourly.
func settingHelp(usage, env, def string) string {
	if strings.ContainsAny(def, " \t") {
		def = fmt.Sprintf("%q", def)
	}
	switch {
	case env != "" && def != "":
		return usage + fmt.Sprintf(" (env %s; default %s)", env, def)
	case env != "":
		return usage + fmt.Sprintf(" (env %s)", env)
	case def != "":
		return usage + fmt.Sprintf(" (default %s)", def)
	}
	return usage
}

// String defines a string setting with a flag and an environment variable.
// env may be empty for a flag-only setting. A back-quoted word in usage
// names the value in --help, as with the flag package: "wait a random
// `duration`" shows as "--jitter duration".
func (fs *flagSet) String(dst *string, name, env, def, usage string) {
	fs.FlagSet.StringVar(dst, name, "", settingHelp(usage, env, def))
	fs.settings = append(fs.settings, envSetting{flag: name, env: env, def: def,
		set: func(v string) error { *dst = v; return nil }})
}

// Bool defines a boolean flag, off by default; env, when not empty, names
// a variable that sets it. Both take the usual spellings of true and false
// (see parseBool); anything else is an error, not off.
func (fs *flagSet) Bool(dst *bool, name, env, usage string) {
	fs.FlagSet.Var((*boolValue)(dst), name, settingHelp(usage, env, ""))
	fs.settings = append(fs.settings, envSetting{flag: name, env: env,
		set: func(v string) error {
			if v == "" {
				*dst = false
				return nil
			}
			b, err := parseBool(v)
			if err != nil {
				return fmt.Errorf("%s %q: %w", env, v, err)
			}
			*dst = b
			return nil
		}})
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

// boolValue is a flag.Value for a boolean flag that reads the spellings
// of parseBool: --run-on-start, --run-on-start=yes, --run-on-start=off.
type boolValue bool

func (b *boolValue) Set(s string) error {
	v, err := parseBool(s)
	*b = boolValue(v)
	return err
}

func (b *boolValue) String() string {
	if b == nil || !*b {
		return "false"
	}
	return "true"
}

// IsBoolFlag lets the flag be given without a value.
func (b *boolValue) IsBoolFlag() bool { return true }

// errHelp reports that --help was asked for and answered.
var errHelp = flag.ErrHelp

// Parse parses args, then fills every setting that no flag set from its
// environment variable or default. Its errors are one line that names the
// flag as the user typed it, or the variable.
func (fs *flagSet) Parse(args []string) error {
	if err := fs.FlagSet.Parse(args); err != nil {
		if errors.Is(err, errHelp) {
			return err
		}
		return flagError(err, args)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fs.fromFlag = map[string]string{}
	for _, s := range fs.settings {
		if given[s.flag] {
			if s.env != "" {
				fs.fromFlag[s.env] = "--" + s.flag
			}
			continue
		}
		v := s.def
		if s.env != "" && fs.app.getenv(s.env) != "" {
			v = fs.app.getenv(s.env)
		}
		if err := s.set(v); err != nil {
			return err
		}
	}
	return nil
}

// commandLineError is a mistake on the command line, as opposed to one in
// a setting's value: its message ends with where to find the flags.
type commandLineError struct{ msg string }

func (e *commandLineError) Error() string { return e.msg }

var (
	// badValue matches the flag package's error for a value that Set
	// refused, to say it as the settings' errors do: --name "value": why.
	badValue = regexp.MustCompile(`^invalid (?:boolean )?value (".*") for (?:flag )?-([[:alnum:]][[:alnum:]_-]*): (.*)$`)
	// singleDash matches a flag named with one dash in the flag package's
	// other errors ("flag needs an argument: -jitter").
	singleDash = regexp.MustCompile(`(^|\s)-([[:alnum:]][[:alnum:]_-]*)`)
)

// flagError turns an error of the flag package into one that names the
// flag with two dashes, and an unknown flag as the user typed it.
func flagError(err error, args []string) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		typed := "--" + name
		for _, arg := range args {
			if arg == "--" {
				break
			}
			if a, _, _ := strings.Cut(arg, "="); strings.HasPrefix(a, "-") && strings.TrimLeft(a, "-") == name {
				typed = a
				break
			}
		}
		return &commandLineError{"unknown flag " + typed}
	}
	if m := badValue.FindStringSubmatch(msg); m != nil {
		return &commandLineError{fmt.Sprintf("--%s %s: %s", m[2], m[1], m[3])}
	}
	return &commandLineError{singleDash.ReplaceAllString(msg, "$1--$2")}
}

// explain returns err's message with every environment variable whose
// setting came from the command line replaced by that flag: errors name
// settings by their variable, and the user who typed --jitter should read
// --jitter.
func (fs *flagSet) explain(err error) string {
	msg := err.Error()
	for env, flagName := range fs.fromFlag {
		msg = regexp.MustCompile(`\b`+regexp.QuoteMeta(env)+`\b`).ReplaceAllLiteralString(msg, flagName)
	}
	return msg
}

// fail reports a configuration error of the command, naming the settings
// as the user gave them, and returns exitUsage.
func (fs *flagSet) fail(err error) int {
	fmt.Fprintf(fs.app.stderr, "agentsync %s: %s\n", fs.command, fs.explain(err))
	return exitUsage
}

// parseOrExit parses args and returns the exit status to end with, if any:
// exitOK after --help (printed to stdout), exitUsage after a bad flag or
// setting (one line on stderr).
func (fs *flagSet) parseOrExit(args []string) (int, bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, errHelp):
		fs.printHelp(fs.app.stdout)
		return exitOK, true
	}
	msg := fs.explain(err)
	if _, ok := errors.AsType[*commandLineError](err); ok {
		msg += fmt.Sprintf("; run \"agentsync %s --help\" for the flags", fs.command)
	}
	fmt.Fprintf(fs.app.stderr, "agentsync %s: %s\n", fs.command, msg)
	return exitUsage, true
}

// parseFlagsOnly is parseOrExit for a command that takes no arguments
// but its flags: an argument left over is a usage error.
func (fs *flagSet) parseFlagsOnly(args []string) (int, bool) {
	if code, done := fs.parseOrExit(args); done {
		return code, true
	}
	if fs.NArg() > 0 {
		return fs.fail(fmt.Errorf("unexpected arguments %q", fs.Args())), true
	}
	return 0, false
}

// envNames lists the environment variables fs reads, for tests.
func (fs *flagSet) envNames() []string {
	var names []string
	for _, s := range fs.settings {
		if s.env != "" {
			names = append(names, s.env)
		}
	}
	sort.Strings(names)
	return names
}
