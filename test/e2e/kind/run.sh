#!/usr/bin/env bash
# The kind path, for machines with a container engine (users' machines, hosted CI): create a kind cluster, build
# and load the image, install the chart, and run the integration and e2e suites against it. Our own machines have no
# container engine; everything before the first docker/kind call is checked by test/unit/kind-script.test.ts.
# The e2e suite reaches the real stream pods through port-forwards (test/support/stream-host.ts).
set -euo pipefail
cd "$(dirname "$0")/../../.."
CLUSTER=${KIND_CLUSTER:-vstream}
TAG=${VSTREAM_IMAGE_TAG:-dev}
IMAGE=ghcr.io/vstream/vstream:$TAG
KUBECONFIG_FILE=${KUBECONFIG_FILE:-$PWD/.vstream/kind-kubeconfig}

plan() {
  echo "kind create cluster --name $CLUSTER --kubeconfig $KUBECONFIG_FILE"
  echo "docker build -t $IMAGE ."
  echo "kind load docker-image $IMAGE --name $CLUSTER"
  echo "helm install vstream charts/vstream --namespace vstream-system --create-namespace --set image.tag=$TAG --wait"
  echo "VSTREAM_USE_EXISTING_CLUSTER=true KUBECONFIG=$KUBECONFIG_FILE npx vitest run --project integration --project e2e"
}

if [ "${1:-}" = "--plan" ]; then plan; exit 0; fi
for tool in docker kind; do
  command -v "$tool" >/dev/null || { echo "$tool is required for the kind path (there is no container engine here?)" >&2; exit 2; }
done
mkdir -p "$(dirname "$KUBECONFIG_FILE")"
# helm for the install; MediaMTX for the e2e comparison run with authMethod internal
bash tools/build.sh helm mediamtx >/dev/null
HELM=$(bash tools/build.sh --paths helm | cut -d= -f2)/helm
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG_FILE" --wait 120s
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"
"$HELM" upgrade --install vstream charts/vstream --kubeconfig "$KUBECONFIG_FILE" --namespace vstream-system \
  --create-namespace --set image.tag="$TAG" --set image.pullPolicy=Never --wait --timeout 180s
VSTREAM_USE_EXISTING_CLUSTER=true KUBECONFIG="$KUBECONFIG_FILE" npx vitest run --project integration --project e2e
