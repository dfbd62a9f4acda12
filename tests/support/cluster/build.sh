#!/usr/bin/env bash
# Builds the real components of Chard's cluster test stage from their published Go modules:
#   kube-apiserver       k8s.io/kubernetes                      (go/kube-apiserver/go.mod)
#   workflow-controller  github.com/argoproj/argo-workflows/v3  (go/workflow-controller/go.mod)
#   kwok                 sigs.k8s.io/kwok                       (go/kwok/go.mod)
# etcd is Debian's etcd-server (.ci/run installs it).
#
# Everything is cached under CHARD_CLUSTER_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/chard-cluster):
# the Go module cache, the Go build cache, and each binary under bin/<name>-<hash of its go.mod and
# go.sum>, so a warm run builds nothing and a version bump builds only what changed.
#
# Usage: build.sh [name...]   (default: all three). Prints the path of each binary on stdout as
# "name=path". A build that fails stops the script with the failing command and its last lines:
# the cluster stage then fails, it is never skipped.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${CHARD_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chard-cluster}"
mkdir -p "$cache/bin" "$cache/logs"
# One build at a time per cache: .ci/run starts this script early in the background, and the
# cluster stage's own call then waits here for it and finds the binaries built.
exec 9>"$cache/build.lock"
if ! flock -n 9; then
  echo "chard cluster build: waiting for the build already running (lock $cache/build.lock)" >&2
  flock 9
fi
export GOMODCACHE="$cache/gomod" GOCACHE="$cache/gobuild" GOFLAGS="-modcacherw -mod=readonly"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}" CGO_ENABLED=0

# kwok v0.8.0 asks for Go 1.26 (k8s.io/kubernetes v1.35 for 1.25).
if ! command -v go >/dev/null; then
  echo "chard cluster build: the 'go' command is not installed (Go 1.26 or newer is needed)" >&2
  exit 1
fi
goversion="$(go env GOVERSION)"
if ! printf '%s\n' go1.26 "$goversion" | sort -V -C; then
  echo "chard cluster build: $goversion is too old: Go 1.26 or newer is needed" >&2
  exit 1
fi

declare -A package=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [workflow-controller]=github.com/argoproj/argo-workflows/v3/cmd/workflow-controller
  [kwok]=sigs.k8s.io/kwok/cmd/kwok
)

declare -A module=(
  [kube-apiserver]=k8s.io/kubernetes
  [workflow-controller]=github.com/argoproj/argo-workflows/v3
  [kwok]=sigs.k8s.io/kwok
)

# The version stamps the official builds carry (kube-apiserver refuses to start without one).
ldflags_for() {
  local name="$1" dir="$2" version
  version="$(awk -v m="${module[$name]}" '$1 == m { print $2 } $1 == "require" && $2 == m { print $3 }' "$dir/go.mod")"
  if [ -z "$version" ]; then
    echo "chard cluster build: no version of ${module[$name]} in $dir/go.mod" >&2
    exit 1
  fi
  case "$name" in
  kube-apiserver)
    local minor="${version#v1.}" pkg
    minor="${minor%%.*}"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      echo "-X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor" \
        "-X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    echo "-s -w"
    ;;
  workflow-controller)
    echo "-s -w -X github.com/argoproj/argo-workflows/v3.version=$version"
    ;;
  kwok)
    echo "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$version"
    ;;
  esac
}

build_one() {
  local name="$1" dir="$here/go/$1"
  local key
  key="$( (cat "$dir/go.mod" "$dir/go.sum" && ldflags_for "$name" "$dir") | sha256sum | cut -c1-16)"
  local out="$cache/bin/$name-$key"
  if [ -x "$out" ]; then
    echo "$name=$out"
    return
  fi
  local log="$cache/logs/$name.log" start=$SECONDS
  echo "chard cluster build: building $name (${package[$name]}); log in $log" >&2
  if ! (cd "$dir" && nice -n "${CHARD_BUILD_NICE:-10}" go build -trimpath \
    -ldflags "$(ldflags_for "$name" "$dir" | tr '\n' ' ')" -o "$out.tmp" "${package[$name]}") >"$log" 2>&1; then
    echo "chard cluster build: FAILED: (cd $dir && go build ${package[$name]})" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  mv -f "$out.tmp" "$out"
  # Binaries of other versions of this component are not needed any more.
  find "$cache/bin" -maxdepth 1 -name "$name-*" ! -name "$(basename "$out")" -delete
  echo "chard cluster build: built $name in $((SECONDS - start)) s" >&2
  echo "$name=$out"
}

names=("$@")
if [ ${#names[@]} -eq 0 ]; then names=(kube-apiserver workflow-controller kwok); fi
for name in "${names[@]}"; do
  if [ -z "${package[$name]:-}" ]; then
    echo "chard cluster build: unknown component '$name' (kube-apiserver, workflow-controller, kwok)" >&2
    exit 2
  fi
  build_one "$name"
done
