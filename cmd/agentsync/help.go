package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
)

// errHelpAsked and errVersionAsked end the parsing of a command line that
// asked for the help or the version: main answers them.
var (
	errHelpAsked    = errors.New("help asked for")
	errVersionAsked = errors.New("version asked for")
)

// helpFlag is --help (-h), on every command. It stops the parsing before
// the environment is read, so that the help shows whatever the settings.
type helpFlag bool

// BeforeReset is kong's hook, run as soon as the flag is seen.
func (helpFlag) BeforeReset() error { return errHelpAsked }

// IgnoreDefault keeps kong from taking the flag's zero value as given.
func (helpFlag) IgnoreDefault() {}

// versionFlag is agentsync --version.
type versionFlag bool

// BeforeReset is kong's hook, run as soon as the flag is seen.
func (versionFlag) BeforeReset() error { return errVersionAsked }

// IgnoreDefault keeps kong from taking the flag's zero value as given.
func (versionFlag) IgnoreDefault() {}

// usage writes agentsync's own help: the commands and their summaries.
func (a *app) usage(w io.Writer, parser *kong.Kong) {
	fmt.Fprint(w, "agentsync syncs Microsoft Defender authenticated scan agents into PostgreSQL, with history.\n\nUsage:\n  agentsync <command> [flags]\n  agentsync help <command>\n\nCommands:\n")
	for _, c := range listCommands(parser) {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun \"agentsync <command> --help\" for a command's flags, environment variables and exit statuses.\n")
}

// help writes the help of node, or agentsync's usage for the root: the
// synopsis, the description, the flags with their placeholders,
// variables and defaults, and the exit statuses.
func (a *app) help(w io.Writer, parser *kong.Kong, node *kong.Node) {
	if node == nil || node.Type != kong.CommandNode || node.Hidden {
		a.usage(w, parser)
		return
	}
	synopsis := "agentsync " + node.Name
	var flags strings.Builder
	for _, f := range node.Flags {
		if f.Hidden {
			continue
		}
		fmt.Fprintf(&flags, "  --%s", f.Name)
		if !f.IsBool() {
			fmt.Fprintf(&flags, " %s", f.PlaceHolder)
		}
		fmt.Fprintf(&flags, "\n      %s\n", settingHelp(f.Help, f.Tag.Get("envvar"), f.Default))
	}
	if flags.Len() > 0 {
		synopsis += " [flags]"
	}
	for _, p := range node.Positional {
		if !p.Tag.Hidden {
			synopsis += " [" + p.Tag.PlaceHolder + "]"
		}
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", synopsis, node.Detail)
	if flags.Len() > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s", flags.String())
	}
	exits := node.Target.Addr().Interface().(runner).exits()
	fmt.Fprint(w, "\nExit status:\n")
	for _, code := range slices.Sorted(maps.Keys(exits)) {
		fmt.Fprintf(w, "  %d  %s\n", code, exits[code])
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

// helpCommand is "agentsync help [command]": "agentsync help CMD" is
// "agentsync CMD --help".
type helpCommand struct {
	Command []string `arg:"" optional:"" placeholder:"command"`
}

// Help is the description of the command, for kong.
func (*helpCommand) Help() string {
	return "Prints the help of a command, as \"agentsync <command> --help\" does, or the commands."
}

func (*helpCommand) exits() exitStatuses {
	return exitStatuses{exitOK: "the help was printed", exitUsage: usageExit}
}

func (c *helpCommand) run(_ context.Context, a *app) int {
	var root cli
	parser := a.newParser(&root)
	switch len(c.Command) {
	case 0:
		a.usage(a.stdout, parser)
		return exitOK
	case 1:
		if node := commandNode(parser, c.Command[0]); node != nil && !node.Hidden {
			a.help(a.stdout, parser, node)
			return exitOK
		}
		fmt.Fprintf(a.stderr, "agentsync help: unknown command %q; run \"agentsync --help\" for the commands\n", c.Command[0])
	default:
		fmt.Fprintf(a.stderr, "agentsync help: want one command, got %q\n", c.Command)
	}
	return exitUsage
}
