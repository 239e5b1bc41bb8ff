#!/usr/bin/env bash
# Debian's Chromium for the browser test (tests/web_test.ts drives it with playwright-core).
# Idempotent: does nothing when /usr/bin/chromium is already installed. Never fatal: without
# Chromium the browser test reports a skip naming the reason.
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
echo "== Chromium for the browser test (tests/web_test.ts)"
if command -v chromium >/dev/null 2>&1; then
  echo "chromium already present: $(chromium --version 2>/dev/null)"
  exit 0
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/tmp/ci-chromium.log 2>&1; then
  echo "installed $(chromium --version 2>/dev/null)"
else
  echo "warning: could not install chromium (the browser test will report a skip)"
  tail -5 /tmp/ci-chromium.log
fi
exit 0
