//! The command line takes kubectl's flags.

use clap::Parser;

use super::{Cli, Command};

#[test]
fn the_command_line_takes_kubectl_flags() {
    let cli = Cli::try_parse_from([
        "kubectl-mapek",
        "--kubeconfig",
        "/tmp/kc",
        "--context",
        "prod",
        "reject",
        "fix-web",
        "-n",
        "shop",
        "--reason",
        "later",
    ])
    .unwrap();
    assert_eq!(cli.namespace.as_deref(), Some("shop"));
    assert_eq!(cli.context.as_deref(), Some("prod"));
    assert_eq!(
        cli.command,
        Command::Reject {
            plan: "fix-web".into(),
            reason: "later".into()
        }
    );
    let cli = Cli::try_parse_from(["kubectl-mapek", "plans", "-A"]).unwrap();
    assert_eq!(
        cli.command,
        Command::Plans {
            all_namespaces: true
        }
    );
    assert!(Cli::try_parse_from(["kubectl-mapek", "reject", "fix-web"]).is_err());
}

#[test]
fn review_takes_its_flags_with_defaults() {
    let cli = Cli::try_parse_from(["kubectl-mapek", "review"]).unwrap();
    assert_eq!(
        cli.command,
        Command::Review {
            port: 8090,
            address: "127.0.0.1".parse().unwrap(),
            prometheus_url: None,
            prometheus_service: "monitoring/prometheus-operated:9090".into(),
            all_namespaces: false,
        }
    );
    let cli = Cli::try_parse_from([
        "kubectl-mapek",
        "review",
        "--port",
        "0",
        "--address",
        "::1",
        "--prometheus-url",
        "http://localhost:9090",
        "-A",
    ])
    .unwrap();
    let Command::Review {
        port,
        address,
        prometheus_url,
        all_namespaces,
        ..
    } = cli.command
    else {
        panic!("review");
    };
    assert_eq!(
        (port, address.to_string(), all_namespaces),
        (0, "::1".into(), true)
    );
    assert_eq!(prometheus_url.as_deref(), Some("http://localhost:9090"));
    assert!(Cli::try_parse_from(["kubectl-mapek", "review", "--address", "nowhere"]).is_err());
}
