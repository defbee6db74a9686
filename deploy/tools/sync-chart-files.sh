#!/usr/bin/env bash
# Copy the files the Helm chart embeds (with .Files.Get) into deploy/helm/omni/files/: a chart cannot
# read outside its own directory. Run it after editing any source below; tests/deploy runs --check.
#   deploy/tools/sync-chart-files.sh          copy (a source that does not exist removes its copy)
#   deploy/tools/sync-chart-files.sh --check  exit 1 and name the files whose copy differs
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEST=$ROOT/deploy/helm/omni/files
# source (repository-relative)          copy (in files/)
PAIRS=(
  "config/routing.yaml                  routing.yaml"
  "config/sla.yaml                      sla.yaml"
  "deploy/prometheus/rules.yaml         prometheus-rules.yaml"
  "deploy/grafana/omni-dashboard.json   omni-dashboard.json"
)
check=false
[[ ${1:-} == --check ]] && check=true
stale=0
mkdir -p "$DEST"
for pair in "${PAIRS[@]}"; do
  read -r src copy <<<"$pair"
  if [[ -f $ROOT/$src ]]; then
    if ! cmp -s "$ROOT/$src" "$DEST/$copy"; then
      if $check; then echo "out of date: deploy/helm/omni/files/$copy (source $src)"; stale=1
      else cp "$ROOT/$src" "$DEST/$copy"; echo "copied $src -> deploy/helm/omni/files/$copy"; fi
    fi
  elif [[ -e $DEST/$copy ]]; then
    if $check; then echo "stale: deploy/helm/omni/files/$copy ($src does not exist)"; stale=1
    else rm -f "$DEST/$copy"; echo "removed deploy/helm/omni/files/$copy ($src does not exist)"; fi
  fi
done
if $check && ((stale)); then echo "run deploy/tools/sync-chart-files.sh" >&2; exit 1; fi
exit 0
