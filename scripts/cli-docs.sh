#!/usr/bin/env bash
# Writes docs/cli.md from the CLI's own --help, so the reference never drifts
# from the code. Run: npm run docs:cli
set -euo pipefail
cd "$(dirname "$0")/.."
beacon() { dist/cli/main.js "$@"; }
{
  echo "# beacon CLI reference"
  echo
  echo "Generated from \`--help\` by \`npm run docs:cli\`; do not edit by hand."
  for cmd in "" discover services "sidekick docker" "sidekick announce" lbsync "health check" "health watch" status; do
    echo
    echo "## beacon${cmd:+ $cmd}"
    echo
    echo '```'
    # shellcheck disable=SC2086
    COLUMNS=100 beacon $cmd --help
    echo '```'
  done
} > docs/cli.md
echo "wrote docs/cli.md"
