package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/agentsync/agentsync/load"
)

// Exit statuses shared by every command.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2 // bad command line or configuration
)

// cli is agentsync's command line, read by kong: one field per command,
// in the order --help lists them, each a struct of its own file whose
// fields are the command's settings. A new command is a file and a line
// here.
type cli struct {
	HelpFlag    helpFlag    `name:"help" short:"h" help:"show the help"`
	VersionFlag versionFlag `name:"version" help:"print the version, as agentsync version does"`

	Migrate  migrateCommand  `cmd:"" help:"apply, roll back one, or list the database migrations"`
	Sync     syncCommand     `cmd:"" help:"sync the tenants' scan agents into PostgreSQL once, now"`
	Run      runCommand      `cmd:"" help:"sync the tenants on SYNC_SCHEDULE until SIGINT or SIGTERM"`
	Fetch    fetchCommand    `cmd:"" help:"fetch and normalize the agents, print one JSON object per line; no database"`
	Demo     demoCommand     `cmd:"" help:"run the whole job against a simulated tenant and show what the history tells"`
	Simulate simulateCommand `cmd:"" help:"serve simulated Defender tenants over HTTP, for trials and docker compose"`
	Status   statusCommand   `cmd:"" help:"per tenant: last success and failure, agents, stale agents; --json"`
	Report   reportCommand   `cmd:"" help:"write a self-contained HTML report of the history, with charts"`
	Diff     diffCommand     `cmd:"" help:"the agents that appeared, were deleted, returned or changed between two times"`
	Export   exportCommand   `cmd:"" help:"write the fleet as of a time, the changes and runs of a period as CSV, with a manifest of SHA-256s"`
	Verify   verifyCommand   `cmd:"" help:"recompute each chain of run digests; name the first run whose stored rows no longer match"`
	Version  versionCommand  `cmd:"" help:"print version, commit and Go version (also --version)"`
	Help     helpCommand     `cmd:"" hidden:"" help:"show the help of a command"`
}

// runner is a command: kong has filled its fields from the command line
// and the environment; run runs it and returns the exit status.
type runner interface {
	run(ctx context.Context, a *app) int
	// exits says what each exit status of the command means, for its help.
	exits() exitStatuses
}

// exitStatuses say what each exit status of a command means.
type exitStatuses map[int]string

// usageExit is the meaning of exitUsage, the same for every command.
const usageExit = "bad command line or configuration"

// app is one invocation of the command: its output streams and
// environment, injected so that tests run commands in-process.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string

	// command is the command running, for its messages.
	command string
	// flags maps the variable of each of the command's settings to its
	// flag, and fromFlag holds those the command line gave instead, so
	// that errors name both, what the user typed first (see explain).
	flags    map[string]string
	fromFlag map[string]bool
}

func newApp(stdout, stderr io.Writer, getenv func(string) string) *app {
	return &app{stdout: stdout, stderr: stderr, getenv: getenv}
}

// newParser returns kong's parser of cli into root, reading the app's
// environment.
func (a *app) newParser(root *cli) *kong.Kong {
	parser, err := kong.New(root,
		kong.Name("agentsync"),
		kong.NoDefaultHelp(),
		kong.Writers(a.stdout, a.stderr),
		kong.Exit(func(int) {}), // every exit goes through main's return
		kong.Resolvers(envResolver(a.getenv)),
		kong.Vars{
			"default_concurrency":          strconv.Itoa(defaultConcurrency),
			"default_max_deleted_fraction": strconv.FormatFloat(load.DefaultMaxDeletedFraction, 'g', -1, 64),
			"default_max_deleted_count":    strconv.Itoa(load.DefaultMaxDeletedCount),
			"demo_database":                demoDatabaseName,
			"demo_report":                  demoReportFile,
			"demo_other_agents":            strconv.Itoa(demoOtherAgents),
		},
		kong.KindMapper(reflect.String, stringMapper{}),
		kong.KindMapper(reflect.Bool, boolMapper{}),
	)
	if err != nil {
		panic(fmt.Sprintf("agentsync's command line: %v", err)) // a mistake in the cli struct
	}
	return parser
}

// command is a command as --help lists it.
type command struct {
	name, summary string
}

// commands lists the commands in the order of --help.
func commands() []command {
	var root cli
	return listCommands(newApp(io.Discard, io.Discard, func(string) string { return "" }).newParser(&root))
}

func listCommands(parser *kong.Kong) []command {
	var out []command
	for _, n := range parser.Model.Children {
		if n.Type == kong.CommandNode && !n.Hidden {
			out = append(out, command{name: n.Name, summary: n.Help})
		}
	}
	return out
}

// commandNode returns the node of the command called name, hidden ones
// included.
func commandNode(parser *kong.Kong, name string) *kong.Node {
	for _, n := range parser.Model.Children {
		if n.Type == kong.CommandNode && n.Name == name {
			return n
		}
	}
	return nil
}

func (a *app) main(ctx context.Context, args []string) int {
	var root cli
	parser := a.newParser(&root)
	if len(args) == 0 {
		a.usage(a.stderr, parser)
		return exitUsage
	}
	cmd, node, err := a.parse(parser, args)
	switch {
	case err == nil:
		return cmd.run(ctx, a)
	case errors.Is(err, errHelpAsked):
		a.help(a.stdout, parser, node)
		return exitOK
	case errors.Is(err, errVersionAsked):
		return root.Version.run(ctx, a)
	case node == parser.Model.Node:
		fmt.Fprintf(a.stderr, "agentsync: %s; run \"agentsync --help\" for the commands\n", err)
		return exitUsage
	}
	msg := err.Error()
	if se, ok := errors.AsType[*settingError](err); ok {
		msg = se.Error() // kong's wrapping would name the flag a second time
	} else {
		msg += fmt.Sprintf("; run \"agentsync %s --help\" for the flags", node.Name)
	}
	fmt.Fprintf(a.stderr, "agentsync %s: %s\n", node.Name, msg)
	return exitUsage
}

// parse reads the command args name, with its settings from args and the
// app's environment, and returns it ready to run. node is the command's,
// or the root's when args name none; parse returns it with its errors too.
func (a *app) parse(parser *kong.Kong, args []string) (cmd runner, node *kong.Node, err error) {
	node = parser.Model.Node
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if node = commandNode(parser, args[0]); node == nil {
			return nil, parser.Model.Node, fmt.Errorf("unknown command %q", args[0])
		}
	}
	var flags []*kong.Flag
	for _, group := range node.AllFlags(false) {
		flags = append(flags, group...)
	}
	if args, err = canonicalArgs(args, flags); err != nil {
		if node == parser.Model.Node {
			err = fmt.Errorf("%w; flags go after the command", err)
		}
		return nil, node, err
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		if pe, ok := errors.AsType[*kong.ParseError](err); ok && pe.Context != nil && pe.Context.Selected() != nil {
			node = pe.Context.Selected()
		}
		return nil, node, err
	}
	node = kctx.Selected()
	a.command, a.flags, a.fromFlag = node.Name, settingFlags(flags), given(kctx)
	return node.Target.Addr().Interface().(runner), node, nil
}

// fail reports a configuration error of the command, naming the settings
// as the user gave them, and returns exitUsage.
func (a *app) fail(err error) int {
	fmt.Fprintf(a.stderr, "agentsync %s: %s\n", a.command, explain(err, a.flags, a.fromFlag))
	return exitUsage
}

// noArguments is part of the commands that take flags only: kong hands
// what is left on the command line here, so that the command names it.
type noArguments struct {
	Unexpected []string `arg:"" optional:"" hidden:""`
}

// check fails when arguments were left over.
func (n *noArguments) check() error {
	if len(n.Unexpected) > 0 {
		return fmt.Errorf("unexpected arguments %q", n.Unexpected)
	}
	return nil
}
