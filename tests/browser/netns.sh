#!/usr/bin/env bash
# Runs a command inside a fresh network namespace that has real (veth) addresses and a default
# route: Chromium gathers no ICE candidates where only loopback exists. Needs root. The
# namespace is deleted when the command ends, however it ends.
#   tests/browser/netns.sh CMD [ARGS...]   (the command sees BITFLEET_NETNS_ADDR=10.99.0.1)
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "error: $0 needs root (it makes a network namespace)" >&2
  exit 1
fi
ns="bitfleet-test-$$"
ip netns add "$ns"
trap 'ip netns delete "$ns"' EXIT
ip netns exec "$ns" sh -ec '
  ip link set lo up
  ip link add v0 type veth peer name v1
  ip addr add 10.99.0.1/24 dev v0
  ip addr add 10.99.0.2/24 dev v1
  ip link set v0 up
  ip link set v1 up
  ip route add default dev v0
'
BITFLEET_NETNS_ADDR=10.99.0.1 ip netns exec "$ns" "$@"
