#!/usr/bin/env bash
# Runs in build.sh's scratch copy of this module, before `go build`.
#
# Puts a patched copy of github.com/hashicorp/vault/sdk v0.9.2 into ./.build/sdk (go.mod
# replaces the sdk with it). Why: sdk v0.9.2's framework.Backend.init panics with
# "Pattern ... defines a CreateOperation but no ExistenceCheck" for any path that has a
# CreateOperation but no ExistenceCheck, and Vault 1.14.1's own sys backend has such a
# path (Vault 1.14.1 shipped against an older sdk pseudo-version without that check, but
# that one lacks APIs Vault needs). We delete the check; nothing else changes.
set -euo pipefail

version=v0.9.2
dst=./.build/sdk

# Ask for the module outside any module, so our own go.mod (whose replace target does
# not exist yet) is not consulted.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json=$(cd "$tmp" && GOFLAGS= go mod download -json "github.com/hashicorp/vault/sdk@$version")
src=$(printf '%s\n' "$json" | perl -ne 'print $1 if /^\s*"Dir":\s*"(.*)",?\s*$/')
[ -n "$src" ] && [ -f "$src/framework/backend.go" ] || {
  echo "prepare.sh: cannot find sdk $version in the module cache:" >&2
  printf '%s\n' "$json" >&2
  exit 1
}

rm -rf "$dst"
mkdir -p "$(dirname "$dst")"
cp -R "$src" "$dst"
chmod -R u+w "$dst"

# Delete the whole `if p.ExistenceCheck == nil { ... }` block (and its comment) from init().
# Fail loudly if the text is not exactly what we expect, rather than build an unpatched sdk.
file=$dst/framework/backend.go
perl -0777 -i -pe '
  $n = s{
    [ \t]*//\ Detect\ the\ coding\ error\ of\ attempting\ to\ define\ a\ CreateOperation[^\n]*\n
    [ \t]*if\ p\.ExistenceCheck\ ==\ nil\ \{\n
    (?:[ \t]*if\ _,\ ok\ :=\ p\.(?:Operations|Callbacks)\[logical\.CreateOperation\];\ ok\ \{\n
       [ \t]*panic\(fmt\.Sprintf\("Pattern\ %v\ defines\ a\ CreateOperation\ but\ no\ ExistenceCheck",\ p\.Pattern\)\)\n
       [ \t]*\}\n){2}
    [ \t]*\}\n
  }{}x;
  END { exit($n == 1 ? 0 : 3) }
' "$file" || { echo "prepare.sh: the ExistenceCheck panic in $file is not where expected; patch not applied" >&2; exit 1; }
if grep -q 'defines a CreateOperation but no ExistenceCheck' "$file"; then
  echo "prepare.sh: $file still contains the ExistenceCheck panic after patching" >&2
  exit 1
fi
echo "prepare.sh: patched sdk $version into $dst" >&2
