// Package deploy holds no code: its tests check the deployment files beside
// it against agentsync and the tools that read them (Prometheus rules with
// promtool and a real Prometheus, Grafana dashboards, Kubernetes manifests).
package deploy
