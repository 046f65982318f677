#!/usr/bin/env bash
# Runs a command and checks its exit code and that its output matches a pattern.
# usage: expect.sh EXIT_CODE REGEX COMMAND [ARGS...]
set -u
want_code=$1 pattern=$2
shift 2
output=$("$@" 2>&1)
code=$?
echo "$output" | tail -20
if [ "$code" -ne "$want_code" ]; then
  echo "expect.sh: exit code $code, expected $want_code: $*" >&2
  exit 1
fi
if ! grep -Eq -- "$pattern" <<<"$output"; then
  echo "expect.sh: output does not match /$pattern/: $*" >&2
  exit 1
fi
