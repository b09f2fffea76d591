"""The machine lxpy runs on: what it offers (check) and how busy it is (usage)."""
