//! The violations the monitor has recorded but the API server does not show
//! yet: queued for the write budget, or written and not yet back through the
//! watch cache. The analyzer judges a policy on these at once. Without them, a
//! thousand policies breaching together reached the analyzer at the budget's
//! 20 writes a second, the last about 50 s after the first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::runtime::reflector::ObjectRef;
use mapek_api::{RecordedViolation, ViolationPolicy};

/// Each policy's latest recorded violations, while its watch-cached status
/// lags behind them.
#[derive(Default)]
pub struct Unwritten(Mutex<HashMap<ObjectRef<ViolationPolicy>, Arc<Vec<RecordedViolation>>>>);

impl Unwritten {
    fn map(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<ViolationPolicy>, Arc<Vec<RecordedViolation>>>>
    {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The policy's recorded violations are now `violations`.
    pub(super) fn set(&self, key: ObjectRef<ViolationPolicy>, violations: &[RecordedViolation]) {
        self.map().insert(key, Arc::new(violations.to_vec()));
    }

    /// The watch cache shows what the monitor recorded (or the policy is gone).
    pub(super) fn clear(&self, key: &ObjectRef<ViolationPolicy>) {
        self.map().remove(key);
    }

    /// `policy` as the analyzer judges it: its status with the violations the
    /// monitor recorded and the watch cache does not show yet, if any (the
    /// same object otherwise).
    pub fn view(&self, policy: Arc<ViolationPolicy>) -> Arc<ViolationPolicy> {
        self.views(vec![policy.clone()]).pop().unwrap_or(policy)
    }

    /// [`view`](Self::view) of each of `policies`, under one lock (none
    /// looked up when nothing is unwritten, as in a quiet cluster).
    pub fn views(&self, mut policies: Vec<Arc<ViolationPolicy>>) -> Vec<Arc<ViolationPolicy>> {
        let map = self.map();
        if map.is_empty() {
            return policies;
        }
        for p in &mut policies {
            if let Some(violations) = map.get(&ObjectRef::from_obj(p.as_ref())) {
                let mut seen = ViolationPolicy::clone(p);
                seen.status
                    .get_or_insert_with(Default::default)
                    .recent_violations = Vec::clone(violations);
                *p = Arc::new(seen);
            }
        }
        policies
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::monitor::decide::time;

    fn policy(name: &str) -> Arc<ViolationPolicy> {
        let mut p: ViolationPolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": "mapek.io/v1alpha1", "kind": "ViolationPolicy",
            "metadata": { "name": name, "namespace": "default" },
            "spec": { "targetRef": { "name": "web" }, "query": "q", "condition": { "threshold": 1.0 } }
        }))
        .unwrap();
        p.status = Some(Default::default());
        Arc::new(p)
    }

    #[test]
    fn the_analyzer_sees_recorded_violations_until_the_cache_shows_them() {
        let unwritten = Unwritten::default();
        let (a, b) = (policy("a"), policy("b"));
        let v = RecordedViolation {
            id: "a-1".into(),
            time: time(1_000),
            value: 2.0,
            threshold: 1.0,
        };
        unwritten.set(ObjectRef::from_obj(a.as_ref()), std::slice::from_ref(&v));
        let seen = unwritten.view(a.clone());
        assert_eq!(seen.status.as_ref().unwrap().recent_violations, [v]);
        // Another policy is the same object.
        assert!(Arc::ptr_eq(&unwritten.view(b.clone()), &b));
        unwritten.clear(&ObjectRef::from_obj(a.as_ref()));
        assert!(Arc::ptr_eq(&unwritten.view(a.clone()), &a));
    }
}
