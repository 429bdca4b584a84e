//! Both forms on every shape of action: a scale with and without a count, a
//! restart, a config change of an env var (with and without a container) and of
//! an annotation, and a config action without its setting.

use crate::model::{ActionType, ConfigChange, ConfigTarget, Priority, RemediationAction};

use super::{in_words, short};

fn action(
    action_type: ActionType,
    replicas: Option<i32>,
    config: Option<ConfigChange>,
) -> RemediationAction {
    RemediationAction {
        id: "a1".into(),
        action_type,
        target: "web".into(),
        replicas,
        config,
        revision: None,
        priority: Priority::High,
        estimated_latency_seconds: 30,
    }
}

fn config(target: ConfigTarget, container: Option<&str>) -> Option<ConfigChange> {
    Some(ConfigChange {
        name: "MODE".into(),
        target,
        container: container.map(String::from),
        value: "safe".into(),
    })
}

#[test]
fn both_forms_of_every_shape() {
    let cases = [
        (
            action(ActionType::ScaleUp, Some(5), None),
            "SCALE_UP to 5",
            "scale Deployment web to 5 replicas",
        ),
        (
            action(ActionType::ScaleDown, None, None),
            "SCALE_DOWN",
            "scale Deployment web",
        ),
        (
            action(ActionType::RestartService, None, None),
            "RESTART_SERVICE",
            "rolling restart of Deployment web",
        ),
        (
            action(
                ActionType::UpdateConfiguration,
                None,
                config(ConfigTarget::Env, Some("app")),
            ),
            "UPDATE_CONFIGURATION MODE=safe",
            "set env var MODE of container app to \"safe\" on Deployment web",
        ),
        (
            action(
                ActionType::ThrottleRequests,
                None,
                config(ConfigTarget::Env, None),
            ),
            "THROTTLE_REQUESTS MODE=safe",
            "set env var MODE to \"safe\" on Deployment web",
        ),
        (
            action(
                ActionType::ApplyPolicy,
                None,
                config(ConfigTarget::Annotation, Some("app")),
            ),
            "APPLY_POLICY MODE=safe",
            "set pod-template annotation MODE to \"safe\" on Deployment web",
        ),
        (
            action(ActionType::UpdateConfiguration, None, None),
            "UPDATE_CONFIGURATION",
            "change the configuration of Deployment web",
        ),
    ];
    for (a, few, words) in cases {
        assert_eq!(short(&a), few);
        assert_eq!(in_words(&a), words);
    }
}
