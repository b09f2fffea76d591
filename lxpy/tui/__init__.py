"""The fleet TUI (`lxpy tui`): a textual face over the same core API as the CLI.

Only this package imports textual; `fleet` and `settings` do not, so they are tested alone.
"""
