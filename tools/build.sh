#!/usr/bin/env bash
# Builds the local control plane (and MediaMTX) from Go modules into a version-keyed cache
# outside the repo, building only what is missing.
#
#   tools/build.sh [--paths] [family ...]     families: kube etcd kwok helm mediamtx authload latprobe
#                                             node containerd runc cni pause coredns (the real-node tier)
#                                             prometheus helm-docs chart-testing (chart and monitoring tests)
#                                             (default: all)
#
# Prints one "family=<dir>" line per family at the end (the harness reads these).
# --paths prints those lines without building anything.
# VSTREAM_CACHE (default ~/.cache/vstream) holds bin/<family>-<version>-<key>/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${VSTREAM_CACHE:-$HOME/.cache/vstream}
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0

paths_only=0
families=()
for a in "$@"; do
  case $a in
    --paths) paths_only=1 ;;
    kube|etcd|kwok|helm|mediamtx|authload|latprobe|node|containerd|runc|cni|pause|coredns|prometheus|helm-docs|chart-testing)
      families+=("$a") ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done
[ ${#families[@]} -gt 0 ] || families=(kube etcd kwok helm mediamtx authload latprobe node containerd runc cni pause coredns
  prometheus helm-docs chart-testing)

gover=$(go env GOVERSION)
modversion() { # family module -> pinned version from go.mod
  (cd "$here/$1" && go mod edit -json) | node -e '
    const m = JSON.parse(require("fs").readFileSync(0));
    const r = m.Require.find((x) => x.Path === process.argv[1]);
    console.log(r ? r.Version : "");' "$2"
}
moddir() { # family -> its Go module directory (kubelet and kube-proxy come from the control plane's k8s module)
  case $1 in node) echo "$here/kube" ;; *) echo "$here/$1" ;; esac
}
key() { # family -> short hash of everything that determines its binaries
  local m; m=$(moddir "$1")
  { echo "$gover"; declare -f "build_$1"; case $1 in kube|node) declare -f kube_ldflags ;; esac; cat "$m"/go.mod "$m"/go.sum "$m"/*.go "$m"/hlsjs-version 2>/dev/null; } |
    sha256sum | cut -c1-12
}
version_of() {
  case $1 in
    kube|node) modversion kube k8s.io/kubernetes ;;
    containerd) modversion containerd github.com/containerd/containerd/v2 ;;
    runc) modversion runc github.com/opencontainers/runc ;;
    cni) modversion cni github.com/containernetworking/plugins ;;
    coredns) modversion coredns github.com/coredns/coredns ;;
    pause) sed -n 's/^const version = "\(.*\)"/v\1/p' "$here/pause/main.go" ;;
    etcd) modversion etcd go.etcd.io/etcd/server/v3 ;;
    kwok) modversion kwok sigs.k8s.io/kwok ;;
    helm) modversion helm helm.sh/helm/v3 ;;
    mediamtx) modversion mediamtx github.com/bluenviron/mediamtx ;;
    authload) echo v1 ;; # ours: the key (a hash of its source) tells builds apart
    latprobe) echo v1 ;; # ours, likewise
    prometheus) modversion prometheus github.com/prometheus/prometheus ;;
    helm-docs) modversion helm-docs github.com/norwoodj/helm-docs ;;
    chart-testing) modversion chart-testing github.com/helm/chart-testing/v3 ;;
  esac
}
dir_of() { echo "$cache/bin/$1-$(version_of "$1")-$(key "$1")"; }

kube_ldflags() {
  local v; v=$(version_of kube)
  local minor=${v#v1.}; minor=${minor%%.*}
  local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  # /version must report the real gitVersion: helm's kubeVersion checks parse it as semver.
  local ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    ld+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000 -X $pkg.buildDate=$date"
  done
  echo "$ld"
}
build_kube() { # $1 = out dir
  (cd "$here/kube" && go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$(kube_ldflags)" -o "$1/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler)
}
# The real-node tier: kubelet and kube-proxy (same module, same flags), containerd, runc, CNI plugins, pause.
build_node() {
  (cd "$here/kube" && go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$(kube_ldflags)" -o "$1/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
}
build_containerd() {
  local v; v=$(version_of containerd)
  local p=github.com/containerd/containerd/v2
  (cd "$here/containerd" && go build -trimpath -tags "no_btrfs no_devmapper no_zfs" \
    -ldflags "-s -w -X $p/version.Version=$v -X $p/version.Revision=$v" -o "$1/" \
    $p/cmd/containerd $p/cmd/containerd-shim-runc-v2 $p/cmd/ctr)
}
build_runc() {
  # cgo + seccomp (Debian's libseccomp-dev, pkg-config): without it RuntimeDefault seccomp profiles cannot apply.
  # upstream's default tags minus libpathrs (a Rust library Debian 12 does not ship; runc falls back to pathrs-lite).
  local v; v=$(version_of runc)
  (cd "$here/runc" && CGO_ENABLED=1 go build -trimpath -buildmode=pie -tags "seccomp urfave_cli_no_docs" \
    -ldflags "-s -w -X main.version=${v#v}" -o "$1/runc" github.com/opencontainers/runc)
}
build_cni() {
  local p=github.com/containernetworking/plugins/plugins v; v=$(version_of cni)
  (cd "$here/cni" && go build -trimpath -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$v" \
    -o "$1/" $p/main/bridge $p/main/loopback $p/ipam/host-local $p/meta/portmap)
}
build_coredns() { # the cluster DNS of the real-node tier, with only the plugins it uses (tools/coredns/main.go)
  local v; v=$(version_of coredns)
  (cd "$here/coredns" && go build -trimpath -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$v" -o "$1/coredns" .)
}
build_pause() { # ours, stdlib only: the pod sandbox image's process and the node namespaces' init
  (cd "$here/pause" && go build -trimpath -ldflags "-s -w" -o "$1/pause" .)
}
build_etcd() {
  local v; v=$(version_of etcd)
  (cd "$here/etcd" && go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$v" -o "$1/etcd" go.etcd.io/etcd/server/v3)
}
build_kwok() {
  local v; v=$(version_of kwok)
  (cd "$here/kwok" && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${v#v}" -o "$1/kwok" sigs.k8s.io/kwok/cmd/kwok)
  # kwok has no built-in stages: ship upstream's "fast" node and pod stages beside the binary.
  local mod; mod=$(cd "$here/kwok" && go mod download -json sigs.k8s.io/kwok | node -pe 'JSON.parse(require("fs").readFileSync(0)).Dir')
  local s=$mod/kustomize/stage
  local sf
  { for sf in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
      pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      cat "$s/$sf"; echo "---"; done; } > "$1/stages.yaml"
}
build_helm() {
  local v; v=$(version_of helm)
  (cd "$here/helm" && go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$v \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=36" \
    -o "$1/helm" helm.sh/helm/v3/cmd/helm)
}
build_mediamtx() {
  # The module zip lacks two files upstream's `go generate` downloads: hls.min.js (from the
  # hls.js npm package, already verified by package-lock.json's integrity hash) and VERSION.
  local v; v=$(version_of mediamtx)
  local mod; mod=$(cd "$here/mediamtx" && go mod download -json "github.com/bluenviron/mediamtx@$v" | node -pe 'JSON.parse(require("fs").readFileSync(0)).Dir')
  local want; want=$(sed 's/^v//' "$mod/internal/servers/hls/hlsjsdownloader/VERSION")
  local hlsjs=$root/node_modules/hls.js
  if [ ! -f "$hlsjs/dist/hls.min.js" ]; then echo "hls.js is not installed: run npm ci first" >&2; return 1; fi
  local have; have=$(node -pe "require('$hlsjs/package.json').version")
  [ "$have" = "$want" ] && [ "$(cat "$here/mediamtx/hlsjs-version")" = "$want" ] ||
    { echo "MediaMTX $v wants hls.js $want; package.json has $have, tools/mediamtx/hlsjs-version has $(cat "$here/mediamtx/hlsjs-version")" >&2; return 1; }
  local src; src=$(mktemp -d)
  cp -r "$mod/." "$src/" && chmod -R u+w "$src"
  cp "$hlsjs/dist/hls.min.js" "$src/internal/servers/hls/hls.min.js"
  printf "%s" "$v" > "$src/internal/core/VERSION"
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$1/mediamtx" .)
  rm -rf "$src"
}
build_authload() { # the auth benchmark's load client: stdlib only, seconds to build
  (cd "$here/authload" && go build -trimpath -ldflags "-s -w" -o "$1/authload" .)
}
build_latprobe() { # the latency benchmark's publisher and readers (RTMP, RTSP, WHEP, HLS): MediaMTX's own libraries
  (cd "$here/latprobe" && go build -trimpath -ldflags "-s -w" -o "$1/latprobe" .)
}
build_prometheus() { # promtool (rule unit tests) and the server (scrape + relabel + alerts test); module v0.3xx.y is Prometheus 3.xx.y
  local v; v=$(version_of prometheus)
  local pv="3.${v#v0.3}"
  # remove_all_sd: the tests use static targets only; leaving out every SD plugin (cloud SDKs) shortens the build.
  # No builtinassets: the web UI is not needed, the HTTP API is.
  (cd "$here/prometheus" && go build -trimpath -tags remove_all_sd,netgo \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$pv -X github.com/prometheus/common/version.Branch=HEAD" \
    -o "$1/" github.com/prometheus/prometheus/cmd/promtool github.com/prometheus/prometheus/cmd/prometheus)
}
build_helm-docs() {
  local v; v=$(version_of helm-docs)
  (cd "$here/helm-docs" && go build -trimpath -ldflags "-s -w -X main.version=${v#v}" -o "$1/helm-docs" \
    github.com/norwoodj/helm-docs/cmd/helm-docs)
}
build_chart-testing() { # ct, plus its default lint configs (chart_schema.yaml, lintconf.yaml) beside it
  local v; v=$(version_of chart-testing)
  (cd "$here/chart-testing" && go build -trimpath \
    -ldflags "-s -w -X github.com/helm/chart-testing/v3/ct/cmd.Version=$v" -o "$1/ct" github.com/helm/chart-testing/v3/ct)
  local mod; mod=$(cd "$here/chart-testing" && go mod download -json github.com/helm/chart-testing/v3 | node -pe 'JSON.parse(require("fs").readFileSync(0)).Dir')
  cp "$mod/etc/chart_schema.yaml" "$mod/etc/lintconf.yaml" "$1/"
}

for f in "${families[@]}"; do
  d=$(dir_of "$f")
  if [ $paths_only = 0 ] && [ ! -f "$d/.complete" ]; then
    echo "[tools] building $f $(version_of "$f") into $d (cold builds take minutes; later runs reuse it)" >&2
    start=$(date +%s)
    tmp="$d.partial"; rm -rf "$tmp"; mkdir -p "$tmp"
    "build_$f" "$tmp"
    touch "$tmp/.complete"; rm -rf "$d"; mv "$tmp" "$d"
    echo "[tools] built $f in $(( $(date +%s) - start ))s: $(du -sh "$d" | cut -f1)" >&2
  elif [ $paths_only = 0 ]; then
    echo "[tools] $f $(version_of "$f") is cached in $d" >&2
  fi
  echo "$f=$d"
done
