#!/usr/bin/env bash
# make_base.sh — a local stand-in for debian:bookworm-slim in the private engine.
#
# No image registry is reachable from CI, so worker/Dockerfile's `FROM debian:bookworm-slim`
# is satisfied by importing a debootstrap'ed bookworm (minbase) with the apt/dpkg tweaks of
# the official slim image, under exactly that tag. The production Dockerfile stays unchanged.
#
# Test-only addition: this machine's CA bundle. Egress TLS (PyPI, the Debian mirror) may be
# intercepted by a proxy that only the host trusts, so the base carries the host bundle as a
# separate file and points SSL_CERT_FILE/PIP_CERT/REQUESTS_CA_BUNDLE at it in its ENV. (Only
# replacing /etc/ssl/certs/ca-certificates.crt is not enough: the Dockerfile's
# `apt-get install ca-certificates` regenerates that file from Mozilla's list.)
#
# Idempotent: nothing to do when the tag exists; else imports the cached rootfs tarball
# ($D/base-cache, ~3 s), else debootstraps (~30 s). FORCE=1 re-debootstraps (security
# updates, a new host CA).
set -euo pipefail

D=${PILOTHOUSE_DOCKER_DIR:-/var/tmp/pilothouse-docker}
export DOCKER_HOST=${DOCKER_HOST:-unix://$D/docker.sock}
DOCKER=${DOCKER_CLI:-/usr/bin/docker}
TAG=${BASE_TAG:-debian:bookworm-slim}
SUITE=${SUITE:-bookworm}
HOST_CA=${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
CACHE=$D/base-cache                     # survives engine.sh purge
TAR=$CACHE/base-$SUITE.tar.gz
B=/etc/ssl/host-ca-bundle.crt           # the image's copy of the host bundle

do_import() {
  "$DOCKER" import \
    --change 'CMD ["bash"]' \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV SSL_CERT_FILE=$B PIP_CERT=$B REQUESTS_CA_BUNDLE=$B CURL_CA_BUNDLE=$B NODE_EXTRA_CA_CERTS=$B" \
    - "$TAG" >/dev/null
}

if [ -z "${FORCE:-}" ] && "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
  echo "make_base: $TAG already present"; exit 0
fi

if [ -z "${FORCE:-}" ] && [ -s "$TAR" ]; then
  gzip -dc "$TAR" | do_import
  echo "make_base: $TAG imported from $TAR"; exit 0
fi

R=$D/rootfs-$SUITE
rm -rf "$R"
# The default mirror (no URL argument); minbase = Essential + apt.
debootstrap --variant=minbase "$SUITE" "$R" >"$D/debootstrap.log" 2>&1 \
  || { tail -30 "$D/debootstrap.log" >&2; exit 1; }

# --- apt sources like the official image: main + -updates + -security ------------------------
# (the mirror is whatever debootstrap used, so no host name is hard-coded here)
M=$(awk '$1=="deb"{print $2; exit}' "$R/etc/apt/sources.list")
rm -f "$R/etc/apt/sources.list"
cat > "$R/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $M
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${M%/debian}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

# --- the tweaks the official (debuerreotype) slim image carries -------------------------------
# so that the Dockerfile meets the same apt behaviour here as in production
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod 755 "$R/usr/sbin/policy-rc.d"
echo force-unsafe-io > "$R/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
cat > "$R/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' > "$R/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' > "$R/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'Apt::AutoRemove::SuggestsImportant "false";' > "$R/etc/apt/apt.conf.d/docker-autoremove-suggests"
cat > "$R/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF

# --- test-only: trust the host's CAs inside builds and containers ------------------------------
mkdir -p "$R/etc/ssl/certs" "$R/usr/local/share/ca-certificates"
# 1) at the standard path: apt works before ca-certificates is installed
cp "$HOST_CA" "$R/etc/ssl/certs/ca-certificates.crt"
# 2) a copy the ca-certificates package never rewrites (the ENV above points here)
cp "$HOST_CA" "$R$B"
# 3) the host's extra CAs, so the bundle update-ca-certificates regenerates keeps them too
cp /usr/local/share/ca-certificates/*.crt "$R/usr/local/share/ca-certificates/" 2>/dev/null || true

# --- slim down like the path-excludes would have, cache the tarball, import --------------------
find "$R/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
find "$R/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$R"/usr/share/man/* "$R"/usr/share/info/* "$R"/usr/share/locale/* "$R"/usr/share/groff/* \
       "$R"/usr/share/lintian/overrides/*
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb \
       "$R"/var/log/*.log "$R"/var/log/apt/* "$R"/tmp/* "$R"/debootstrap
mkdir -p "$CACHE"
tar --numeric-owner -C "$R" -c . | gzip -1 > "$TAR.tmp" && mv "$TAR.tmp" "$TAR"
gzip -dc "$TAR" | do_import
rm -rf "$R"
echo "make_base: $TAG built by debootstrap (cached in $TAR)"
