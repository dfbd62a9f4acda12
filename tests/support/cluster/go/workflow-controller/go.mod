// Builds Argo Workflows' own workflow-controller for Chard's cluster tests, at a release users run.
// The replace is the one Argo's own go.mod carries (a dependency's replace does not apply to us).
module chard.dev/tests/cluster/workflow-controller

go 1.24.10

tool github.com/argoproj/argo-workflows/v3/cmd/workflow-controller

require github.com/argoproj/argo-workflows/v3 v3.7.6

replace github.com/olekukonko/tablewriter => github.com/olekukonko/tablewriter v0.0.5
