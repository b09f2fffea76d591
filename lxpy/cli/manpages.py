"""The per-command man pages, lxpy-COMMAND(1), made from the command table and each
command's parser, so they say what --help says: summary, usage, description, arguments and
options with their help and defaults, examples. `python -m lxpy.cli.manpages man/`
rewrites them (tests/test_manpages.py checks that they are current; a page of a command
that is gone is deleted by hand). Nothing on a command's path imports this.
"""

from __future__ import annotations

import argparse
import re

from lxpy import __version__
from lxpy.cli import generated
from lxpy.cli.commands import COMMANDS, Command
from lxpy.cli.parser import command_parser

# The first line of every page: where it comes from, for whoever opens it to edit it.
HEADER = '.\\" Made by `python -m lxpy.cli.manpages man/` from lxpy/cli/commands.py: edit that.'

# Usage and option text: --options, METAVARS, words (commands, choices), spaces, the rest.
_TOKEN = re.compile(r"(--?[a-z][a-z-]*)|([A-Z][A-Z0-9_]*)|([a-z][a-z0-9_.-]*)|(\s+)|(.)")
_GROUP_TITLES = {"positional arguments": "ARGUMENTS", "options": "OPTIONS"}


def pages() -> dict[str, str]:
    """Each listed command's page, by file name."""
    return {f"lxpy-{c.name}.1": page(c) for c in COMMANDS if not c.hidden}


def page(command: Command) -> str:
    p = command_parser(command)
    names = ", ".join(f"lxpy\\-{_text(name)}" for name in (command.name, *command.aliases))
    lines = [
        HEADER,
        f'.TH LXPY\\-{_text(command.name.upper())} 1 "" "lxpy {__version__}" "User Commands"',
        ".SH NAME",
        f"{names} \\- {_text(command.summary)}",
        ".SH SYNOPSIS",
        *_synopsis(p),
        ".SH DESCRIPTION",
        *_paragraphs(command.description),
    ]
    for alias in command.aliases:
        lines += [".PP", f"\\fBlxpy {_text(alias)}\\fR is the same command."]
    for group in p._action_groups:
        lines += _group(p, group)
    lines.append(".SH EXAMPLES")
    for line, what in command.examples:
        lines += [".TP", f"\\fB{_text(line)}\\fR", _line(_text(what))]
    lines += [".SH SEE ALSO", *_see_also(command, p)]
    return "\n".join(lines) + "\n"


def _text(text: str) -> str:
    """Running text as troff: backslashes and dashes escaped, `code` in bold."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"`([^`]*)`", r"\\fB\1\\fR", text)


def _line(text: str) -> str:
    """A line of text that troff cannot take for a request (`.tar.gz`, `'quoted`)."""
    return f"\\&{text}" if text.startswith((".", "'")) else text


def _paragraphs(text: str) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n\n"):
        if lines:
            lines.append(".PP")
        lines += [_line(_text(line.strip())) for line in paragraph.splitlines()]
    return lines


def _markup(usage: str) -> str:
    """Usage text in the man page style: options and words bold, metavars italic; spaces
    inside brackets do not break the line, and no word is hyphenated (`\\%` before it)."""
    out = ["\\%"]
    depth = 0
    for option, metavar, word, space, other in _TOKEN.findall(usage):
        if option or word:
            out.append(f"\\fB{_text(option or word)}\\fR")
        elif metavar:
            out.append(f"\\fI{metavar}\\fR")
        elif space:
            out.append("\\ " if depth else " \\%")
        else:
            depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(other, 0)
            out.append(_text(other))
    return "".join(out)


def _synopsis(p: argparse.ArgumentParser) -> list[str]:
    usage = p.format_usage().removeprefix("usage: ")
    # A usage written out (several forms) keeps its lines; argparse's own is one line,
    # wrapped to the terminal.
    forms = usage.splitlines() if p.usage else [usage]
    lines = [".ad l"]  # ragged right: no wide gaps between the options
    for form in forms:
        if len(lines) > 1:
            lines.append(".br")
        lines.append(_markup(" ".join(form.split())))
    return [*lines, ".ad b"]


def _group(p: argparse.ArgumentParser, group: argparse._ArgumentGroup) -> list[str]:
    actions = [a for a in group._group_actions if a.help is not argparse.SUPPRESS]
    if not actions:
        return []
    title = group.title or ""
    section = _GROUP_TITLES.get(title)
    lines = [f".SH {section}" if section else f".SS {_text(title[:1].upper() + title[1:])}"]
    formatter = p._get_formatter()
    for action in actions:
        lines += [".TP", _markup(_invocation(formatter, action))]
        lines.append(_line(_text(formatter._expand_help(action))))
    return lines


def _invocation(formatter: argparse.HelpFormatter, action: argparse.Action) -> str:
    """`-t, --template TEMPLATE` (argparse repeats the metavar after each spelling)."""
    if not action.option_strings:
        return formatter._format_action_invocation(action)
    spellings = ", ".join(action.option_strings)
    if action.nargs == 0:
        return spellings
    return f"{spellings} {formatter._format_args(action, action.dest.upper())}"


def _see_also(command: Command, p: argparse.ArgumentParser) -> list[str]:
    """lxpy(1), the pages of the commands its text names (`lxpy stop`), and the templates'
    page where it speaks of templates."""
    text = command.description + " ".join(str(a.help) for a in p._actions)
    named = {c.name for c in COMMANDS if not c.hidden and f"`lxpy {c.name}" in text}
    refs = [("lxpy", "1"), *((f"lxpy-{n}", "1") for n in sorted(named - {command.name}))]
    if "template" in text:
        refs.append(("lxpy-templates", "7"))
    lines = [f".BR {_text(name)} ({section})," for name, section in refs]
    return [*lines[:-1], lines[-1].rstrip(",")]


if __name__ == "__main__":
    generated.main(pages, "lxpy.cli.manpages", "man/")
