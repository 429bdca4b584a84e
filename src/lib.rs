//! mapek-operator: an autonomic remediation operator for Kubernetes that closes the
//! MAPE-K loop (Monitor, Analyze, Plan, Execute, Knowledge).
//!
//! The [`engine`] is pure; everything else reads and writes Kubernetes and Prometheus.

pub mod engine;
