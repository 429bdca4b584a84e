//! mapek-operator: an autonomic remediation operator for Kubernetes that closes the
//! MAPE-K loop (Monitor, Analyze, Plan, Execute, Knowledge).
//!
//! The engine is the separate `mapek-engine` crate (pure: no kube, no tokio);
//! everything here reads and writes Kubernetes and Prometheus around it.

pub mod conditions;
pub mod controllers;
pub mod error;
pub mod fault;
pub mod leader;
pub mod memory;
pub mod metrics;
pub mod prometheus;
pub mod rbac;
pub mod run;
pub mod server;
pub mod telemetry;

pub use error::{Error, Result};
