#!/usr/bin/env bash
# Installs the Debian packages some tests use, when apt is usable (CI runs this before `make test`):
#   chromium  -> tests/test_report.py renders the report in headless Chromium (skipped without it)
# Skips with a message when they are present, or when apt cannot be used; the tests that need them
# then skip and say why.
set -u
packages=(chromium)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test tools: ${packages[*]} present"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "test tools: apt-get not found; skipping ${missing[*]} (the tests that need them will skip)"
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo_cmd=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo_cmd=(sudo -n)
else
  echo "test tools: not root and no passwordless sudo; skipping ${missing[*]}"
  exit 0
fi
echo "test tools: installing ${missing[*]}"
if ! { "${sudo_cmd[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"; } >/dev/null; then
  echo "test tools: apt-get failed; skipping ${missing[*]}"
fi
exit 0
