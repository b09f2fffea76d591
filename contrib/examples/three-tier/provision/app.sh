#!/bin/sh
# The app tier: its service, enabled and started (its files were pushed before the boot).
set -eu
systemctl daemon-reload
systemctl enable --now app
