"""The command line face (`lxpy COMMAND`): main parses and dispatches, commands is the one
table of commands, the other modules hold the commands by concern.

Empty on purpose: lxpy/__main__.py reads the command word (cli.cmdline) before it forks the
launcher, which must not carry the rest of the CLI.
"""
