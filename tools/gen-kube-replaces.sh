#!/usr/bin/env bash
# Regenerates tools/kube/go.mod's replace block. k8s.io/kubernetes requires every staging
# module at the fake version v0.0.0 and maps it to ./staging with a directory replace that
# does not apply to dependents, so each one must be pointed at its published v0.<minor>.<patch>.
# The list of staging modules changes every minor release, hence generated, never hand-written.
set -euo pipefail
cd "$(dirname "$0")/kube"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
KV=${1:-$(go mod edit -json | node -e 'const m=JSON.parse(require("fs").readFileSync(0));console.log(m.Require.find(r=>r.Path==="k8s.io/kubernetes").Version)')}
SV=v0.${KV#v1.}
GOMOD=$(go mod download -json "k8s.io/kubernetes@$KV" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).GoMod)')
# drop old replaces, then add one per v0.0.0 staging require
go mod edit -json | node -e 'const m=JSON.parse(require("fs").readFileSync(0));for(const r of m.Replace??[])console.log(r.Old.Path)' |
  while read -r p; do go mod edit -dropreplace="$p"; done
go mod edit -json "$GOMOD" | node -e 'const m=JSON.parse(require("fs").readFileSync(0));for(const r of m.Require)if(r.Version==="v0.0.0")console.log(r.Path)' |
  while read -r p; do go mod edit -replace="$p=$p@$SV"; done
go mod edit -require="k8s.io/kubernetes@$KV"
# godebug defaults must match upstream's: only the main module's godebug line is honoured
GODEBUG_LINE=$(grep -E '^godebug ' "$GOMOD" || true)
echo "k8s $KV -> staging $SV; upstream: ${GODEBUG_LINE:-no godebug line}"
