//! The remediation envelope's rules that the CRD schema enforces, checked for
//! scenario files, which no API server validates.

use crate::model::RemediationEnvelope;

/// The rules the CRD schema enforces on a remediation envelope, checked here for
/// scenario files, which no API server validates. Returns the field and reason.
pub fn check_envelope(envelope: &RemediationEnvelope) -> Result<(), (String, String)> {
    use crate::model::{ActionType, PatchKind};
    let scales = envelope.allows(ActionType::ScaleUp) || envelope.allows(ActionType::ScaleDown);
    match &envelope.scale {
        None if scales => {
            return Err((
                "scale".into(),
                "scale bounds are required when SCALE_UP or SCALE_DOWN is allowed".into(),
            ));
        }
        Some(b) if b.min_replicas < 0 || b.max_replicas < 1 || b.max_step < 1 => {
            return Err((
                "scale".into(),
                "minReplicas must be >= 0, maxReplicas >= 1 and maxStep >= 1".into(),
            ));
        }
        Some(b) if b.min_replicas > b.max_replicas => {
            return Err((
                "scale.minReplicas".into(),
                format!(
                    "minReplicas ({}) must not exceed maxReplicas ({})",
                    b.min_replicas, b.max_replicas
                ),
            ));
        }
        _ => {}
    }
    for (i, s) in envelope.config.iter().enumerate() {
        if s.name.is_empty() {
            return Err((format!("config[{i}].name"), "must not be empty".into()));
        }
        if !s.allowed_values.is_empty() && !s.allowed_values.contains(&s.value) {
            return Err((
                format!("config[{i}].value"),
                format!(
                    "{:?} is not one of allowedValues {:?}",
                    s.value, s.allowed_values
                ),
            ));
        }
        if let Some(a) = s
            .actions
            .iter()
            .find(|a| a.patch_kind() != PatchKind::Config)
        {
            return Err((
                format!("config[{i}].actions"),
                format!("{a} is not a config action"),
            ));
        }
    }
    for a in &envelope.allowed_actions {
        if a.patch_kind() == PatchKind::Config && envelope.setting_for(*a).is_none() {
            return Err((
                "allowedActions".into(),
                format!("{a} is allowed but no config setting lists it"),
            ));
        }
    }
    Ok(())
}
