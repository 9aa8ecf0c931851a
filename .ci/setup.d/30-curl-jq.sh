#!/bin/sh
# curl and jq: the README's simulator examples use them (tests/test_readme_examples.py runs them).
set -eu
if command -v curl >/dev/null 2>&1 && command -v jq >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends curl jq
