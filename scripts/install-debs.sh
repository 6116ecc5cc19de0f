#!/usr/bin/env bash
# Installs the Debian packages the default-scale data comes from, when apt is usable:
#   dataset-fashion-mnist  -> /usr/share/datasets/fashion-mnist (IDX .gz files)
#   bible-kjv              -> the `bible` command and the King James text (the KJV corpus)
# Skips with a message when they are present already, or when apt cannot be used (not Debian, not
# root and no passwordless sudo). The smoke scale and the tests do not need them.
set -u
packages=(dataset-fashion-mnist bible-kjv)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "debian packages: ${packages[*]} present"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "debian packages: apt-get not found; skipping ${missing[*]} (default-scale datasets will be missing; see README 'Data')"
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo_cmd=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo_cmd=(sudo -n)
else
  echo "debian packages: not root and no passwordless sudo; skipping ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}"
  exit 0
fi
echo "debian packages: installing ${missing[*]}"
if ! { "${sudo_cmd[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"; }; then
  echo "debian packages: apt-get failed; skipping ${missing[*]} (default-scale datasets will be missing; see README 'Data')"
fi
exit 0
