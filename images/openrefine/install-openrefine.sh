#!/bin/bash
# Build step: install OpenRefine. By default Debian bookworm's `openrefine` package, which apt verifies
# like every other package. A newer upstream release is installed instead when one is asked for: an
# `openrefine-linux-VERSION.tar.gz` in the artifacts folder (`python3 tasks.py build --artifacts DIR`),
# or the OPENREFINE_URL build argument. Its SHA-256 is then required: the OPENREFINE_SHA256 build
# argument, or the archive's line in SHA256SUMS beside it. Without one, one line starting
# "tm351-artifact-error: " on stderr says so and nothing is installed.
set -euo pipefail

: "${OPENREFINE_URL:=}" "${OPENREFINE_SHA256:=}"
artifacts=${TM351_ARTIFACTS_DIR:-/tmp/artifacts}
fetch=${TM351_FETCH_ARTIFACT:-/tmp/fetch-artifact.sh}
ini=${REFINE_INI_PATH:?}
releases=https://github.com/OpenRefine/OpenRefine/releases/download

fail() {
    local line="tm351-artifact-error: openrefine ($1): $2; fix: $3"
    printf '%s\n' "${line//$'\n'/ }" >&2
    exit 1
}

# The upstream archive asked for: sets file and url, or leaves them empty (Debian's package then).
file='' url=''
choose_archive() {
    local found=() version
    if [ -n "$OPENREFINE_URL" ]; then
        url=$OPENREFINE_URL
        file=${url%%[?#]*}
        file=${file##*/}
        return
    fi
    shopt -s nullglob
    found=("$artifacts"/openrefine-linux-*.tar.gz)
    shopt -u nullglob
    [ "${#found[@]}" -le 1 ] || fail "$artifacts" "the artifacts folder holds ${#found[@]} OpenRefine archives" \
        "leave only the one to install"
    [ "${#found[@]}" = 1 ] || return 0
    file=${found[0]##*/}
    version=${file#openrefine-linux-}
    url=$releases/${version%.tar.gz}/$file
}

# The archive's SHA-256 from the build argument, else from the artifacts folder's SHA256SUMS.
pinned_sha256() {
    local file=$1
    if [ -n "$OPENREFINE_SHA256" ]; then
        printf '%s\n' "$OPENREFINE_SHA256"
    elif [ -f "$artifacts/SHA256SUMS" ]; then
        awk -v file="$file" '{ name = $2; sub(/^\*/, "", name) } name == file { print $1; exit }' \
            "$artifacts/SHA256SUMS"
    fi
}

install_from_debian() {
    # The package asks for the desktop Java runtime (default-jre | java9-runtime), which brings GTK,
    # Mesa and LLVM (about 230 MB) to draw windows that a headless server never opens. A package of
    # our own stands in for it with the headless runtime, which has everything else, AWT's headless
    # half included (facets' images).
    local stand_in=/tmp/tm351-java-runtime
    mkdir -p "$stand_in/DEBIAN"
    cat >"$stand_in/DEBIAN/control" <<'CONTROL'
Package: tm351-java-runtime
Version: 1
Architecture: all
Maintainer: TM351 <tm351@localhost>
Depends: openjdk-17-jre-headless
Provides: java9-runtime
Description: Java 17 for OpenRefine's headless server, without the desktop runtime
CONTROL
    dpkg-deb --root-owner-group --build "$stand_in" "$stand_in.deb" >/dev/null
    # The JRE's alternatives need the manual folder, which the foundation's dpkg excludes leave out.
    mkdir -p /usr/share/man/man1
    apt-get update
    apt-get install -y --no-install-recommends "$stand_in.deb" openrefine
    rm -rf "$stand_in" "$stand_in.deb"
    test -x /usr/share/openrefine/refine
}

install_from_archive() {
    local file=$1 url=$2 sha256=$3
    # A copy from the artifacts folder is checked before anything is installed; a download needs curl.
    if [ ! -f "$artifacts/$file" ]; then
        apt-get update
        apt-get install -y --no-install-recommends curl
    fi
    bash "$fetch" openrefine "$url" "$sha256" "/tmp/$file"
    # OpenRefine 3.6 and later need Java 11 or newer; procps: `free`, which the refine script calls.
    mkdir -p /usr/share/man/man1
    apt-get update
    apt-get install -y --no-install-recommends openjdk-17-jre-headless curl procps
    install -d /opt/openrefine
    tar -xzf "/tmp/$file" -C /opt/openrefine --strip-components=1 --no-same-owner
    rm "/tmp/$file"
    test -x /opt/openrefine/refine
    # Whichever ini this release's refine script reads, it is the image's.
    ln -sf "$ini" /opt/openrefine/refine.ini
}

choose_archive
if [ -z "$file" ]; then
    install_from_debian
else
    sha256=$(pinned_sha256 "$file")
    if [ -z "$sha256" ] && [ -n "$OPENREFINE_URL" ]; then
        fail "$url" "no SHA-256 is given for $file" \
            "set the build argument OPENREFINE_SHA256 to the checksum OpenRefine publishes for it on its release page"
    fi
    [ -n "$sha256" ] || fail "$url" "no SHA-256 is given for $file" \
        "add the line \`SHA256  $file\` to SHA256SUMS in the artifacts folder, with SHA256 the checksum OpenRefine publishes for it on its release page (without the archive, the build installs Debian's openrefine package)"
    [[ $sha256 =~ ^[0-9a-fA-F]{64}$ ]] || fail "$url" "'$sha256' is not a SHA-256 (64 hexadecimal digits)" \
        "give the checksum OpenRefine publishes for $file on its release page"
    install_from_archive "$file" "$url" "$sha256"
fi
rm -rf /var/lib/apt/lists/*
