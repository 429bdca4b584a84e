//! Crash consistency: the operator killed with SIGKILL at every named step of an
//! execution and at random times; each restart resolves the plan from its
//! write-ahead record.

use super::*;

/// A plan shape for the crash runs.
#[derive(Clone, Copy)]
pub(super) struct Shape {
    name: &'static str,
    /// The failing shape adds an action on a container the Deployment lacks.
    fails: bool,
}

pub(super) const COMPLETES: Shape = Shape {
    name: "completes",
    fails: false,
};
const ROLLS_BACK: Shape = Shape {
    name: "rolls-back",
    fails: true,
};

impl Shape {
    pub(super) fn actions(&self, target: &str) -> Vec<Value> {
        let mut a = vec![scale_to(4, target), restart(target)];
        a.push(set_mode(if self.fails { "sidecar" } else { "app" }, target));
        a
    }

    /// Every point an execution of this shape passes, in order.
    fn points(&self) -> Vec<&'static str> {
        if self.fails {
            vec![
                "approved",
                "started",
                "write-ahead:0",
                "applied:0",
                "succeeded:0",
                "write-ahead:1",
                "applied:1",
                "succeeded:1",
                "failed:2",
                "rollback-sent:1",
                "rolled-back:1",
                "rollback-sent:0",
                "rolled-back:0",
                "finished",
            ]
        } else {
            vec![
                "approved",
                "started",
                "write-ahead:0",
                "applied:0",
                "succeeded:0",
                "write-ahead:1",
                "applied:1",
                "succeeded:1",
                "write-ahead:2",
                "applied:2",
                "succeeded:2",
                "finished",
            ]
        }
    }

    fn phase(&self) -> ExecutionPhase {
        if self.fails {
            ExecutionPhase::RolledBack
        } else {
            ExecutionPhase::Completed
        }
    }

    /// Successful operator patches: three actions, or two actions and their undoing.
    fn patches(&self) -> usize {
        if self.fails { 4 } else { 3 }
    }

    /// (replicas, restarted, MODE) at the end.
    pub(super) fn end_state(&self) -> (Option<i32>, bool, Option<String>) {
        if self.fails {
            (Some(2), false, Some("a".into()))
        } else {
            (Some(4), true, Some("b".into()))
        }
    }
}

/// Where one crash run kills the operator.
#[derive(Clone, Debug)]
enum Kill {
    /// SIGKILL sent by the operator to itself at the named point.
    At(&'static str),
    /// SIGKILL sent by the test this long after the approval.
    After(Duration),
}

/// What one crash run found.
#[derive(Debug, Default)]
struct CrashRun {
    double_executions: usize,
    missing_actions: usize,
    wrong_end: usize,
    killed_mid_execution: bool,
    /// Patches the kill cut off mid-request (answered 504, applied or not).
    cut_by_the_kill: usize,
}

async fn crash_run(c: &Client, run: usize, shape: Shape, kill: Kill) -> CrashRun {
    let ns = format!("crash-{run}");
    let name = "web";
    common::ensure_namespace(c, &ns).await;
    deployment(c, &ns, name).await;
    policy(c, &ns, "web-policy", name, "vector(0)", 1.0).await;
    let rp = plan(c, &ns, "web-plan", "web-policy", name, shape.actions(name)).await;

    let faults = match &kill {
        Kill::At(point) => format!("{point}=kill"),
        Kill::After(_) => String::new(),
    };
    let mut first = Operator::start(&ns, &faults, &[]).await;
    approve(c, &ns, &rp).await;
    match &kill {
        Kill::At(point) => {
            let signal = first.exited(Duration::from_secs(30)).await;
            assert_eq!(
                signal,
                Some(9),
                "run {run}: the operator was to kill itself at {point}"
            );
            assert!(
                std::fs::read_to_string(first.log())
                    .unwrap_or_default()
                    .contains(&format!("SIGKILL at {point}")),
                "run {run}: no kill recorded at {point}"
            );
        }
        Kill::After(delay) => {
            tokio::time::sleep(*delay).await;
            first.kill();
        }
    }
    let at_kill = get_plan(c, &ns, "web-plan").await;
    let killed_mid_execution = at_kill
        .status
        .as_ref()
        .is_some_and(|s| s.phase == ExecutionPhase::InProgress);

    let _second = Operator::start(&ns, "", &[]).await;
    let done = finished(c, &ns, "web-plan", Duration::from_secs(60)).await;
    let status = done.status.unwrap();
    let patches = operator_patches(&ns, name);
    let end = state(&live(c, &ns, name).await);
    let mut found = CrashRun {
        killed_mid_execution,
        cut_by_the_kill: patches.cut,
        ..Default::default()
    };
    found.double_executions = patches.ok.saturating_sub(shape.patches());
    found.missing_actions = shape.patches().saturating_sub(patches.ok + patches.cut);
    if status.phase != shape.phase() || end != shape.end_state() {
        found.wrong_end = 1;
    }
    assert_eq!(
        (status.phase, &end, patches.applied_exactly(shape.patches())),
        (shape.phase(), &shape.end_state(), true),
        "run {run} ({}, kill {kill:?}): phase, end state (replicas, restarted, MODE) and {} operator patches applied ({patches:?}); execution {:?}",
        shape.name,
        shape.patches(),
        status.execution
    );
    found
}

/// SIGKILL at every step of an execution (26 named points over two plan shapes)
/// and at 24 seeded random times: every action ran at most once, every execution
/// ends Completed or RolledBack, the Deployment ends as the plan or its rollback
/// says.
#[tokio::test]
async fn crash_consistency() {
    let c = client().await;
    let mut runs: Vec<(Shape, Kill)> = Vec::new();
    for shape in [COMPLETES, ROLLS_BACK] {
        for point in shape.points() {
            runs.push((shape, Kill::At(point)));
        }
    }
    let named = runs.len();
    let mut rng = Rng(0x6d61_7065_6b21);
    for i in 0..24 {
        let shape = if i % 2 == 0 { COMPLETES } else { ROLLS_BACK };
        runs.push((shape, Kill::After(Duration::from_millis(rng.next() % 900))));
    }
    let started = Instant::now();
    let results: Vec<CrashRun> = futures::stream::iter(runs.into_iter().enumerate())
        .map(|(i, (shape, kill))| {
            let c = c.clone();
            async move { crash_run(&c, i, shape, kill).await }
        })
        .buffer_unordered(3)
        .collect()
        .await;
    let n = results.len();
    let double: usize = results.iter().map(|r| r.double_executions).sum();
    let missing: usize = results.iter().map(|r| r.missing_actions).sum();
    let wrong: usize = results.iter().map(|r| r.wrong_end).sum();
    let mid = results.iter().filter(|r| r.killed_mid_execution).count();
    let cut: usize = results.iter().map(|r| r.cut_by_the_kill).sum();
    let panics: usize = (0..n).map(|i| panics_in_log(&format!("crash-{i}"))).sum();
    report(
        "crash consistency (SIGKILL of the operator)",
        n,
        n - wrong,
        &[
            ("double executions", double),
            ("lost actions", missing),
            ("unexplained end states", wrong),
            ("panics", panics),
        ],
        json!({"named points": named, "random times": n - named,
               "killed while InProgress": mid,
               "patches cut mid-request": cut, "seconds": started.elapsed().as_secs()}),
    );
    assert!(n >= 50);
    assert_eq!((double, missing, wrong, panics), (0, 0, 0, 0));
}
