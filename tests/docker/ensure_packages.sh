#!/usr/bin/env bash
# Install what the Docker tests need when it is missing (Debian/Ubuntu, idempotent, quiet when
# nothing is missing): Debian's Docker engine (dockerd, containerd, runc and the 20.10 client,
# whose BuildKit needs no buildx plug-in), debootstrap for the stand-in base image, and
# iptables, which dockerd programs and engine.sh restores.
set -euo pipefail

packages=(docker.io debootstrap iptables)
missing=()
for pkg in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == *" ok installed" ]] || missing+=("$pkg")
done
((${#missing[@]})) || exit 0

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 \
        || { echo "ensure_packages: not root and no sudo: apt-get install ${missing[*]}" >&2; exit 1; }
    SUDO=(sudo)
fi
echo "ensure_packages: installing ${missing[*]}" >&2
apt=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q)
"${apt[@]}" update >&2
# The package would start the system's dockerd, whose docker0 bridge and iptables rules then
# clash with the private engine (engine.sh refuses to start next to one): keep services down
# for this install with a temporary policy-rc.d, unless the host already has its own.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
    trap '"${SUDO[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
# --no-install-recommends: docker.io recommends apparmor, git, xz-utils and more we do not use.
"${apt[@]}" install --no-install-recommends "${missing[@]}" >&2
