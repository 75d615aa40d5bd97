#!/usr/bin/env bash
# The Debian packages jotasu uses at run time and in its tests.
set -euo pipefail
pkgs=(
  runc containernetworking-plugins iptables nftables conntrack iproute2   # containers and pod/service networking
  etcd-server etcd-client                                       # the HA datastore and its tests
  docker-registry skopeo busybox-static nginx-light             # a local OCI registry and locally built images
  wrk tmux                                                      # benchmarks, interactive exec tests
  gcc libc6-dev                                                 # the container shim (src/runtime/shim/jotasu-shim.c), built on first use
)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's etcd-server and docker-registry start system services; our tests start their own.
for s in etcd docker-registry nginx; do
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$s" >/dev/null 2>&1 || true; fi
done
