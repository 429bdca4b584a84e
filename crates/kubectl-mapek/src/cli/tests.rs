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
