#!/usr/bin/env bash
# Sets up a fresh Debian machine for tapegrad, and is safe to run again: every step first checks
# whether its work is already done, so a second run takes seconds.
#
#   bash scripts/setup.sh
#
# Steps: Debian packages (Jupyter, Chromium; PyTorch and OpenBLAS as optional references),
# pnpm, the workspace's node_modules (frozen lockfile), the tslab Jupyter kernel, the build.
# Runs as root (or with sudo), without standard input; CI=true is fine.
# SETUP_SKIP_OPTIONAL=1 skips the optional reference packages.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd -P)"

PNPM_VERSION=10.34.9
NODE_MIN=20.19.0
REQUIRED_APT=(
  jupyter-notebook jupyter-nbconvert jupyter-client python3-nbconvert python3-nbclient
  python3-ipykernel chromium
)
OPTIONAL_APT=(python3-torch libopenblas0-openmp)
JUPYTER=/usr/bin/jupyter
PYTHON=/usr/bin/python3
TSLAB_BIN="$ROOT/packages/examples/node_modules/.bin/tslab"

export DEBIAN_FRONTEND=noninteractive
# ipykernel's debugger otherwise warns about frozen modules on every jupyter command.
export PYDEVD_DISABLE_FILE_VALIDATION=1

log() { printf '[setup] %s\n' "$*"; }
die() {
  printf '[setup] ERROR: %s\n' "$*" >&2
  exit 1
}

SUDO=()
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null || die "not root and no sudo: run this script as root"
  SUDO=(sudo -n)
fi

TIMINGS=()
SETUP_START=$(date +%s%N)
# step NAME FUNCTION: runs FUNCTION, prints and records how long it took.
step() {
  local name=$1 fn=$2 t0 ms
  log "== $name"
  t0=$(date +%s%N)
  "$fn"
  ms=$((($(date +%s%N) - t0) / 1000000))
  TIMINGS+=("$(printf '%-22s %7.1fs' "$name" "$(bc_div "$ms")")")
  log "   $name: $(bc_div "$ms")s"
}
bc_div() { printf '%d.%d' $(($1 / 1000)) $((($1 % 1000) / 100)); }

installed() { [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]; }
missing_of() {
  local p
  for p in "$@"; do installed "$p" || printf '%s\n' "$p"; done
}

APT_UPDATED=0
apt_update_once() {
  if [[ $APT_UPDATED == 0 ]]; then
    log "apt-get update"
    "${SUDO[@]}" apt-get update -q || die "apt-get update failed"
    APT_UPDATED=1
  fi
}
# has_candidate NAME: the package exists in the apt lists (apt-cache policy shows a candidate).
has_candidate() {
  local c
  c=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
  [[ -n "$c" && "$c" != "(none)" ]]
}
apt_install() {
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "$@"
}

check_node() {
  command -v node >/dev/null || die "node is not installed (Node.js >= $NODE_MIN is needed)"
  local v
  v=$(node -p 'process.versions.node')
  node -e '
    const [a, b] = process.argv.slice(1).map((s) => s.split(".").map(Number));
    const cmp = a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
    process.exit(cmp >= 0 ? 0 : 1);' "$v" "$NODE_MIN" ||
    die "node $v is too old: tapegrad needs Node.js >= $NODE_MIN"
  log "node $v"
}

apt_packages() {
  local required optional p
  mapfile -t required < <(missing_of "${REQUIRED_APT[@]}")
  optional=()
  if [[ "${SETUP_SKIP_OPTIONAL:-0}" != 1 ]]; then
    mapfile -t optional < <(missing_of "${OPTIONAL_APT[@]}")
  fi
  if ((${#required[@]} == 0 && ${#optional[@]} == 0)); then
    log "all Debian packages present"
    return
  fi
  apt_update_once
  if ((${#required[@]} > 0)); then
    for p in "${required[@]}"; do
      has_candidate "$p" || die "Debian package $p is not available (apt-cache policy $p)"
    done
    log "installing: ${required[*]}"
    apt_install "${required[@]}" || die "apt-get install failed for: ${required[*]}"
  fi
  if ((${#optional[@]} > 0)); then
    local avail=()
    for p in "${optional[@]}"; do
      if has_candidate "$p"; then
        avail+=("$p")
      else
        log "optional $p is not available; skipped"
      fi
    done
    if ((${#avail[@]} > 0)); then
      log "installing optional references: ${avail[*]}"
      apt_install "${avail[@]}" ||
        log "optional references ${avail[*]} did not install; continuing without them"
    fi
  fi
  for p in "${REQUIRED_APT[@]}"; do installed "$p" || die "$p is still not installed"; done
  [[ -x /usr/bin/chromium ]] || die "/usr/bin/chromium is missing after installing chromium"
  [[ -x $JUPYTER ]] || die "$JUPYTER is missing after installing jupyter"
}

pnpm_itself() {
  local v=""
  if command -v pnpm >/dev/null; then v=$(pnpm --version 2>/dev/null || true); fi
  if [[ "$v" == "$PNPM_VERSION" ]]; then
    log "pnpm $v"
    return
  fi
  log "pnpm is '${v:-missing}', installing pnpm@$PNPM_VERSION with npm"
  command -v npm >/dev/null || die "npm is missing: cannot install pnpm"
  "${SUDO[@]}" npm install -g --no-fund --no-audit "pnpm@$PNPM_VERSION" ||
    die "npm install -g pnpm@$PNPM_VERSION failed"
  hash -r
  v=$(pnpm --version)
  [[ "$v" == "$PNPM_VERSION" ]] || die "pnpm --version is $v after installing $PNPM_VERSION"
}

node_modules() {
  pnpm install --frozen-lockfile --reporter=append-only
}

build() {
  pnpm run build
}

# The kernel spec points at this checkout's tslab by absolute path, so a clone in another folder
# (CI) registers its own; the check below re-registers whenever the path differs.
tslab_kernel() {
  [[ -x "$TSLAB_BIN" ]] || die "$TSLAB_BIN is missing: did pnpm install run?"
  local current
  current=$(tslab_kernel_bin)
  if [[ "$current" == "$TSLAB_BIN" ]]; then
    log "tslab kernel registered ($current)"
    return
  fi
  log "registering the tslab kernel (was: '${current:-none}')"
  (cd packages/examples &&
    "${SUDO[@]}" "$TSLAB_BIN" install --python="$PYTHON" --binary="$TSLAB_BIN")
  "$JUPYTER" kernelspec list
  [[ "$(tslab_kernel_bin)" == "$TSLAB_BIN" ]] ||
    die "jupyter kernelspec list does not show the tslab kernel at $TSLAB_BIN"
}
# The command that the registered tslab kernel starts, or nothing when there is none.
tslab_kernel_bin() {
  "$JUPYTER" kernelspec list --json 2>/dev/null | "$PYTHON" -c '
import json, sys
spec = json.load(sys.stdin)["kernelspecs"].get("tslab")
print(spec["spec"]["argv"][0] if spec else "")'
}

step "node" check_node
step "debian packages" apt_packages
step "pnpm" pnpm_itself
step "pnpm install" node_modules
step "tslab kernel" tslab_kernel
step "build" build

total=$((($(date +%s%N) - SETUP_START) / 1000000))
log "done in $(bc_div "$total")s:"
for t in "${TIMINGS[@]}"; do log "   $t"; done
