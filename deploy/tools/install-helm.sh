#!/usr/bin/env bash
# Install the pinned Helm into .run/bin/helm, built from source with `go install` (Go module proxy).
# Idempotent: the binary is cached in ~/.cache/omni/bin/helm-<version> and reused; concurrent runs
# (pytest-xdist workers) serialise on a lock. Prints the path of the helm binary on stdout.
#   deploy/tools/install-helm.sh            install if missing, print the path
#   HELM_VERSION=v3.x.y deploy/tools/install-helm.sh
# Needs Go >= 1.21: with GOTOOLCHAIN=auto an older one fetches the toolchain Helm's go.mod asks for (1.26).
set -euo pipefail
HELM_VERSION=${HELM_VERSION:-v3.21.4}
# The Kubernetes version helm assumes without a cluster (`helm template`, lint's deprecation checks), set
# as Helm's own release builds do: the minor of the k8s.io/client-go it is built with (v0.36 -> 1.36).
HELM_K8S_MINOR=${HELM_K8S_MINOR:-36}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${OMNI_CACHE_DIR:-$HOME/.cache/omni}/bin
BIN=$ROOT/.run/bin
cached=$CACHE/helm-$HELM_VERSION-k8s1.$HELM_K8S_MINOR
log() { printf '[install-helm] %s\n' "$*" >&2; }

mkdir -p "$CACHE" "$BIN"
exec 9>"$CACHE/.helm.lock"
flock 9

works() { [[ -x $1 ]] && "$1" version --short 2>/dev/null | grep -q "^${HELM_VERSION}"; }

if ! works "$cached"; then
  command -v go >/dev/null || { log "Go >= 1.21 is needed to build Helm (the polyglot machines have it; Debian 12 ships only 1.19)"; exit 1; }
  log "building helm $HELM_VERSION with $(go version) (about 2-3 minutes the first time)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  start=$(date +%s)
  GOBIN=$tmp CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=${GOTOOLCHAIN:-auto} go install \
    -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  install -m 0755 "$tmp/helm" "$cached.tmp"
  mv -f "$cached.tmp" "$cached"
  log "built in $(($(date +%s) - start)) s: $cached"
  works "$cached" || { log "the built helm does not report $HELM_VERSION"; exit 1; }
fi

if [[ ! -x $BIN/helm ]] || ! cmp -s "$cached" "$BIN/helm"; then
  install -m 0755 "$cached" "$BIN/helm.tmp"
  mv -f "$BIN/helm.tmp" "$BIN/helm"
fi
echo "$BIN/helm"
