#!/usr/bin/env bash
# Builds bazel-remote, the REAPI cache server the remote-cache tests run against as a second,
# validating server (it parses every ActionResult it is sent and checks the blobs it names), from
# the Go module proxy at a pinned tag, pure Go (its cgo zstd is behind a build tag). The binary
# lands in a versioned directory, so a machine that has it skips the build (about a minute of
# 2 cores cold). Prints the binary's path.
#
# Buildbarn (remote execution, issue 19) was meant to be built here too, but this machine's module
# proxy does not serve github.com/buildbarn/bb-storage or bb-remote-execution at any version
# (their version lists and the pinned .info files answer 403); see docs/REMOTE.md.
set -euo pipefail

BAZEL_REMOTE=v2.6.2
ROOT=${KILN_REAPI_CACHE:-/var/cache/kiln-reapi}
BIN="$ROOT/bazel-remote-$BAZEL_REMOTE"
if [ -x "$BIN/bazel-remote" ]; then echo "$BIN/bazel-remote"; exit 0; fi

log() { echo "reapi-install: $*" >&2; }
# The unpacked module's directory in the module cache. Refuses anything else: an empty answer
# would make the copy below "cp -r /." (the whole machine).
moddir() {
  local dir cache
  dir=$(go mod download -json "$1" | python3 -c 'import json,sys;print(json.load(sys.stdin).get("Dir",""))') || true
  cache=$(go env GOMODCACHE)
  case "$dir" in
    "$cache"/?*) [ -f "$dir/go.mod" ] && { echo "$dir"; return; } ;;
  esac
  log "go mod download $1 gave no module directory ('$dir')"; exit 1
}

work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
log "building bazel-remote $BAZEL_REMOTE (pure Go)"
# Built as the main module from a writable copy of its zip: `go install pkg@version` asks the
# proxy for the module's version list (deprecation notices), which this proxy refuses.
src=$(moddir "github.com/buchgr/bazel-remote/v2@$BAZEL_REMOTE")
cp -r "$src"/. "$work/"; chmod -R u+w "$work"
mkdir -p "$BIN.partial"
(cd "$work" && CGO_ENABLED=0 go build -trimpath -o "$BIN.partial/bazel-remote" .)
rm -rf "$BIN"; mv "$BIN.partial" "$BIN"
echo "$BIN/bazel-remote"
