// Builds kwok's controller (fake nodes and pod lifecycles without a container runtime) for Chard's
// cluster tests.
module chard.dev/tests/cluster/kwok

go 1.26.0

tool sigs.k8s.io/kwok/cmd/kwok

require sigs.k8s.io/kwok v0.8.0
