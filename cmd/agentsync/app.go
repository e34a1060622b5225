package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
}

func commands() []command {
	return []command{
		{"migrate", "[up|down|status]", "apply, roll back one, or list the database migrations", runMigrate},
		{"sync", "", "sync the tenant's scan agents into PostgreSQL once, now", runSync},
		{"run", "", "sync on SYNC_SCHEDULE until SIGINT or SIGTERM", runDaemon},
		{"fetch", "", "fetch and normalize the agents, print one JSON object per line; no database", runFetch},
		{"demo", "", "run the whole job against a simulated tenant and show what the history tells", runDemo},
		{"simulate", "", "serve a simulated Defender tenant over HTTP, for trials and docker compose", runSimulate},
		{"version", "", "print version, commit and Go version", runVersion},
	}
}

func (a *app) main(ctx context.Context, args []string) int {
	if len(args) == 0 || isHelp(args[0]) || args[0] == "help" {
		a.usage(a.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, a, args[1:])
		}
	}
	fmt.Fprintf(a.stderr, "agentsync: unknown command %q\n\n", args[0])
	a.usage(a.stderr)
	return exitUsage
}

func (a *app) usage(w io.Writer) {
	fmt.Fprint(w, "agentsync syncs Microsoft Defender authenticated scan agents into PostgreSQL, with history.\n\nUsage:\n  agentsync <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun \"agentsync <command> --help\" for a command's flags and environment variables.\n")
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help"
}

// flagSet is a flag.FlagSet whose string settings also come from environment
// variables: a flag given on the command line wins, then the variable, then
// the default. Values from the environment are never shown in --help, so a
// secret in the environment cannot leak through it.
type flagSet struct {
	*flag.FlagSet
	app      *app
	settings []envSetting
}

type envSetting struct {
	flag, env, def string
	dst            *string
}

func (a *app) newFlagSet(c string, synopsis, description string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(c, flag.ContinueOnError), app: a}
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: %s\n\n%s\n", strings.TrimSpace("agentsync "+c+" "+synopsis), description)
		var flags strings.Builder
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(&flags, "  --%s", f.Name)
			if name, _ := flag.UnquoteUsage(f); name != "" {
				if name == "string" {
					name = "value" // every setting is read as text, numbers and durations too
				}
				fmt.Fprintf(&flags, " %s", name)
			}
			fmt.Fprintf(&flags, "\n      %s\n", f.Usage)
		})
		if flags.Len() > 0 {
			fmt.Fprintf(out, "\nFlags:\n%s", flags.String())
		}
	}
	return fs
}

// String defines a string setting with a flag and an environment variable.
// env may be empty for a flag-only setting.
func (fs *flagSet) String(dst *string, name, env, def, usage string) {
	help := usage
	switch {
	case env != "" && def != "":
		help += fmt.Sprintf(" (env %s; default %q)", env, def)
	case env != "":
		help += fmt.Sprintf(" (env %s)", env)
	case def != "":
		help += fmt.Sprintf(" (default %q)", def)
	}
	fs.FlagSet.StringVar(dst, name, "", help)
	fs.settings = append(fs.settings, envSetting{flag: name, env: env, def: def, dst: dst})
}

// Bool defines a boolean flag; env, when not empty, names a variable that
// sets it to true with "1", "true" or "yes".
func (fs *flagSet) Bool(dst *bool, name, env, usage string) {
	if env != "" {
		usage += fmt.Sprintf(" (env %s)", env)
		switch strings.ToLower(fs.app.getenv(env)) {
		case "1", "true", "yes":
			*dst = true
		}
	}
	fs.FlagSet.BoolVar(dst, name, *dst, usage)
}

// errHelp reports that --help was asked for and answered.
var errHelp = flag.ErrHelp

// Parse parses args, then fills every setting that no flag set from its
// environment variable or default. It answers --help itself.
func (fs *flagSet) Parse(args []string) error {
	if err := fs.FlagSet.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, s := range fs.settings {
		if given[s.flag] {
			continue
		}
		if v := fs.app.getenv(s.env); s.env != "" && v != "" {
			*s.dst = v
		} else {
			*s.dst = s.def
		}
	}
	return nil
}

// parseOrExit parses args and returns the exit status to end with, if any:
// exitOK after --help, exitUsage after a bad flag.
func (fs *flagSet) parseOrExit(args []string) (int, bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, errHelp):
		return exitOK, true
	default:
		return exitUsage, true
	}
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
