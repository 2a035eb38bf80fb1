#!/usr/bin/env bash
# Builds a test server (vault, consul) from its wrapper module into a cache dir keyed by
# the recipe, so a changed recipe gets a fresh build and an unchanged one is reused.
#
#   build.sh NAME          build NAME if missing; print the binary path
#   build.sh --path NAME   print the binary path; exit 1 if it is not built
#
# Each server lives in testdata/servers/NAME/ as its own Go module. If it has prepare.sh,
# that runs in a scratch copy of the module first (e.g. to patch a dependency into ./.build).
# Neither upstream source nor binaries are ever written into the repository.
set -euo pipefail

only_path=false
if [ "${1:-}" = "--path" ]; then only_path=true; shift; fi
name=${1:?usage: build.sh [--path] NAME}
here=$(cd "$(dirname "$0")" && pwd)
src=$here/$name
[ -d "$src" ] || { echo "build.sh: no server recipe named $name in $here" >&2; exit 2; }

cache=${NVRUN_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nvrun/servers}
key=$( { (cd "$src" && find . -type f ! -path './.build/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); go version; } | sha256sum | cut -c1-16)
bin=$cache/$name-$key/$name

if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
if $only_path; then
  echo "build.sh: $name is not built for this recipe (want $bin); run: make servers" >&2
  exit 1
fi

work=$cache/build/$name-$key
rm -rf "$work"
mkdir -p "$work" "$(dirname "$bin")"
cp -R "$src/." "$work/"
rm -rf "$work/.build"
start=$(date +%s)
echo "build.sh: building $name (recipe $key) in $work" >&2
if [ -x "$work/prepare.sh" ]; then (cd "$work" && ./prepare.sh); fi
(cd "$work" && CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" .)
mv "$bin.tmp" "$bin"
rm -rf "$work"
echo "build.sh: built $name in $(( $(date +%s) - start ))s: $bin" >&2
echo "$bin"
