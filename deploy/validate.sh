#!/usr/bin/env bash
# Validates deploy/ without a container daemon or a cluster: the Kubernetes manifests against
# the Kubernetes schemas (kubernetes-validate, schemas bundled), compose.yaml against the
# Compose specification (check-jsonschema's vendored schema), the systemd unit with
# `systemd-analyze verify`.
#   bash deploy/validate.sh [path/to/consentgate-binary]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/debug/consentgate}"

venv="${CONSENTGATE_VALIDATE_VENV:-target/deploy-venv}"
if [ ! -x "$venv/bin/check-jsonschema" ] || [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'check-jsonschema==0.33.*' 'kubernetes-validate==1.31.*'
fi

echo "==> Kubernetes manifests"
"$venv/bin/kubernetes-validate" --strict --kubernetes-version 1.31 deploy/k8s/*.yaml

echo "==> compose.yaml"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml

echo "==> systemd unit"
if command -v systemd-analyze >/dev/null; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  # verify needs the binary the unit names; point it at the one just built.
  sed "s|/usr/local/bin/consentgate|$(realpath "$bin")|" deploy/systemd/consentgate.service \
    > "$tmp/consentgate.service"
  # It reports unknown or misspelt settings as warnings and still exits 0: any output fails.
  out="$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$tmp/consentgate.service" 2>&1)" || {
    echo "$out"; exit 1; }
  if [ -n "$out" ]; then echo "$out"; exit 1; fi
else
  echo "systemd-analyze not found; skipped" >&2
fi

echo "deploy/ is valid (the example configuration is loaded by a unit test)"
