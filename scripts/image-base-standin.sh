#!/usr/bin/env bash
# Build a local stand-in for the Dockerfile's base image (debian:bookworm-slim) when no
# registry can be pulled from: debootstrap's minbase variant is what the official image is made
# of. The mirror comes from this machine's apt sources and its CA bundle is copied in, so
# `apt-get` and `pip` inside the build reach the same package registries the machine does.
# Usage: scripts/image-base-standin.sh [IMAGE_NAME]   (needs root, buildah and debootstrap)
set -euo pipefail

IMAGE=${1:-debian:bookworm-slim}
SUITE=bookworm

if buildah inspect --type image "$IMAGE" >/dev/null 2>&1; then
    echo "base image $IMAGE already present"
    exit 0
fi
if timeout 60 buildah pull --quiet "docker.io/library/$IMAGE" >/dev/null 2>&1; then
    echo "pulled $IMAGE"
    exit 0
fi

mirror=$(
    { grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
      grep -hsE '^deb ' /etc/apt/sources.list | awk '{print $2}'; } 2>/dev/null |
    grep -v -- '-security' | head -n1 || true
)
mirror=${mirror:-http://deb.debian.org/debian}
echo "no registry reachable: building a stand-in for $IMAGE with debootstrap from $mirror"

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
rootfs=$workdir/rootfs
debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$workdir/debootstrap.log" 2>&1 || {
    tail -n 20 "$workdir/debootstrap.log" >&2
    exit 1
}
cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
EOF
# The machine's CAs (its egress may re-sign TLS): in the bundle now, and in
# /usr/local/share/ca-certificates so a later `apt-get install ca-certificates` keeps them.
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/usr/local/share/ca-certificates"
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb

tar -C "$rootfs" -cf "$workdir/rootfs.tar" .
container=$(buildah from scratch)
buildah add --quiet "$container" "$workdir/rootfs.tar" / >/dev/null
bundle=/etc/ssl/certs/ca-certificates.crt
buildah config --cmd /bin/bash \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=$bundle --env PIP_CERT=$bundle --env REQUESTS_CA_BUNDLE=$bundle \
    "$container"
buildah commit --quiet "$container" "$IMAGE" >/dev/null
buildah rm "$container" >/dev/null
echo "built stand-in $IMAGE"
