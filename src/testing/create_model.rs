//! A deterministic model of one create, searched over thousands of seeded schedules: the API
//! server (compare-and-swap on `resourceVersion`, watch caches that lag), Graph (a clock, lists
//! that lag its writes, answers lost after a commit, failures before one), two replicas of the
//! operator, and crashes between any two steps. The operator's side is the real plan
//! (`organization::plan`) and the same steps, in the same order, as `organization::reconcile`
//! takes them (see the invariant in `reconciler::create_record`).
//!
//! Every schedule must end with exactly one organization made by the operator, its id recorded
//! on the resource and in status: 0 duplicates, 0 lost ids.

use std::time::Duration;

use graph_client::types::{Organization, OrganizationFields};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::kinds::organization::{
    OrganizationSpec,
    plan::{CreateClock, Observed, Plan, plan},
};
use crate::reconciler::create_record::{CreateIntent, Recorded};

/// The consistency window, and how long Graph's lists lag a create (less than the window: the
/// assumption the guarantee rests on).
const WINDOW_SECS: i64 = 60;
const LIST_LAG_SECS: i64 = 20;
const NAME: &str = "Northwind";

/// One version of the resource as the API server stores it.
#[derive(Clone, Debug, Default)]
struct Version {
    rv: u64,
    id: Option<String>,
    intent: Option<CreateIntent>,
    status_id: Option<String>,
}

#[derive(Clone, Debug)]
struct GraphOrg {
    id: String,
    name: String,
    created: i64,
    by_operator: bool,
}

/// Where a replica's round stands.
#[derive(Clone, Debug)]
enum Step {
    Idle,
    /// Read a (possibly stale) version: next, observe Graph and plan.
    Read(Version),
    /// Decided to create from version `from`: next, write the intent conditionally.
    WriteIntent {
        from: Version,
        intent: CreateIntent,
    },
    /// The intent (decided at Graph's time `started`) is on the resource at `rv`: next, the
    /// POST, unless the round is past half the window since it decided.
    Post {
        rv: u64,
        started: i64,
    },
    /// Graph's answer named `id` (a create or an adoption): next, the id on the resource.
    WriteId {
        id: String,
    },
    /// Next, the status (a conflict re-reads and writes it anyway: it holds Graph's answer).
    WriteStatus {
        id: String,
    },
}

struct World {
    rng: StdRng,
    versions: Vec<Version>,
    graph: Vec<GraphOrg>,
    now: i64,
    replicas: [Step; 2],
    spec: OrganizationSpec,
    next_id: u32,
    /// Faults on (random phase) or off (the quiet end).
    faults: bool,
}

impl World {
    fn new(seed: u64, creation_mode: &str, namesake: bool) -> Self {
        let spec: OrganizationSpec = serde_json::from_value(serde_json::json!({
            "connectionRef": {"name": "c"}, "displayName": NAME, "creationMode": creation_mode,
        }))
        .expect("a spec");
        let mut w = Self {
            rng: StdRng::seed_from_u64(seed),
            versions: vec![Version {
                rv: 1,
                ..Default::default()
            }],
            graph: Vec::new(),
            now: 1_000_000,
            replicas: [Step::Idle, Step::Idle],
            spec,
            next_id: 0,
            faults: true,
        };
        if namesake {
            w.graph.push(GraphOrg {
                id: "someone-elses".into(),
                name: NAME.into(),
                created: 0,
                by_operator: false,
            });
        }
        w
    }

    fn latest(&self) -> &Version {
        self.versions.last().expect("a version")
    }

    /// Store a new version derived from the latest.
    fn write(&mut self, f: impl FnOnce(&mut Version)) -> u64 {
        let mut v = self.latest().clone();
        v.rv += 1;
        f(&mut v);
        self.versions.push(v);
        self.latest().rv
    }

    /// A watch cache's copy: one of the last few versions while faults are on.
    fn cached(&mut self) -> Version {
        let lag = if self.faults {
            self.rng.gen_range(0..3usize)
        } else {
            0
        };
        let i = self.versions.len().saturating_sub(1 + lag);
        self.versions[i].clone()
    }

    fn listed(&self) -> Vec<Organization> {
        self.graph
            .iter()
            .filter(|o| o.created + LIST_LAG_SECS <= self.now)
            .map(|o| Organization {
                id: o.id.clone(),
                fields: OrganizationFields {
                    display_name: Some(o.name.clone()),
                    ..Default::default()
                },
                ..Default::default()
            })
            .collect()
    }

    fn graph_time(&self) -> jiff::Timestamp {
        jiff::Timestamp::from_second(self.now).expect("a time")
    }

    fn create_in_graph(&mut self) -> String {
        self.next_id += 1;
        let id = format!("org-{}", self.next_id);
        self.graph.push(GraphOrg {
            id: id.clone(),
            name: NAME.into(),
            created: self.now,
            by_operator: true,
        });
        id
    }

    /// One step of replica `r`'s round.
    fn step(&mut self, r: usize) {
        let next = match self.replicas[r].clone() {
            Step::Idle => Step::Read(self.cached()),
            Step::Read(v) => self.observe_and_plan(v),
            Step::WriteIntent { from, intent } => {
                if from.rv == self.latest().rv {
                    let started = intent
                        .started_at
                        .parse::<jiff::Timestamp>()
                        .expect("a time")
                        .as_second();
                    let rv = self.write(|v| v.intent = Some(intent));
                    Step::Post { rv, started }
                } else {
                    Step::Idle // 409: stale; nothing sent
                }
            }
            // A round that paused too long since it decided doesn't send: its intent stays, and
            // the next round waits the window out.
            Step::Post { started, .. } if self.now - started > WINDOW_SECS / 2 => Step::Idle,
            Step::Post { rv, .. } => {
                let roll: f64 = if self.faults { self.rng.r#gen() } else { 1.0 };
                if roll < 0.2 {
                    // Committed, answer lost (a timeout, a reset): the intent stays.
                    self.create_in_graph();
                    Step::Idle
                } else if roll < 0.3 {
                    // Broke before committing, but the operator can't know: the intent stays.
                    Step::Idle
                } else if roll < 0.4 {
                    // Refused (a 4xx, throttling): nothing made; the intent is withdrawn,
                    // conditional on the version that holds it.
                    if self.latest().rv == rv {
                        self.write(|v| v.intent = None);
                    }
                    Step::Idle
                } else {
                    Step::WriteId {
                        id: self.create_in_graph(),
                    }
                }
            }
            Step::WriteId { id } => {
                self.write(|v| {
                    v.id = Some(id.clone());
                    v.intent = None;
                });
                Step::WriteStatus { id }
            }
            Step::WriteStatus { id } => {
                self.write(|v| v.status_id = Some(id));
                Step::Idle
            }
        };
        self.replicas[r] = next;
    }

    fn observe_and_plan(&mut self, v: Version) -> Step {
        let id = v.id.clone().or(v.status_id.clone());
        let recorded = Recorded {
            id: id.clone(),
            intent: v.intent.clone(),
        };
        let observed = match &id {
            Some(id) => {
                Observed::Known(
                    self.graph
                        .iter()
                        .find(|o| &o.id == id)
                        .map(|o| Organization {
                            id: o.id.clone(),
                            ..Default::default()
                        }),
                )
            }
            None => Observed::Candidates(self.listed()),
        };
        let clock = CreateClock {
            now: self.graph_time(),
            consistency_window: Duration::from_secs(WINDOW_SECS as u64),
        };
        match plan(&self.spec, &recorded, observed, clock) {
            Plan::Create { preexisting_ids } => Step::WriteIntent {
                from: v,
                intent: CreateIntent {
                    started_at: self.graph_time().to_string(),
                    preexisting_ids,
                },
            },
            Plan::Adopt { org, .. } => Step::WriteId { id: org.id },
            Plan::InSync { org } | Plan::Update { org, .. } | Plan::Drifted { org, .. } => {
                if v.id.as_deref() != Some(org.id.as_str()) {
                    Step::WriteId { id: org.id }
                } else if v.status_id.as_deref() != Some(org.id.as_str()) {
                    // The round's end writes the status when it differs (a restore, a crash
                    // after the id was recorded).
                    Step::WriteStatus { id: org.id }
                } else {
                    Step::Idle
                }
            }
            Plan::AwaitConsistency { .. } | Plan::Stall { .. } => Step::Idle,
        }
    }

    fn made_by_operator(&self) -> Vec<String> {
        self.graph
            .iter()
            .filter(|o| o.by_operator)
            .map(|o| o.id.clone())
            .collect()
    }
}

/// Run one seeded schedule to its end; the outcome: ids the operator made, and the record.
fn run(seed: u64, creation_mode: &str, namesake: bool) -> Result<(), String> {
    let mut w = World::new(seed, creation_mode, namesake);
    let steps = w.rng.gen_range(20..120);
    for _ in 0..steps {
        let r = w.rng.gen_range(0..2usize);
        if w.rng.gen_bool(0.1) {
            w.replicas[r] = Step::Idle; // a crash (kill -9): the round is gone
        } else {
            w.step(r);
        }
        // Mostly seconds between steps; now and then a long pause (a stopped process, a slow
        // API server) that outlasts the window.
        w.now += if w.rng.gen_bool(0.05) {
            w.rng.gen_range(30..120)
        } else {
            w.rng.gen_range(0..8)
        };
        if w.made_by_operator().len() > 1 {
            return Err(format!("duplicate: {:?}", w.made_by_operator()));
        }
    }
    // The quiet end: no faults, Graph's lists catch up, rounds run until nothing changes.
    w.faults = false;
    for _ in 0..40 {
        for r in 0..2 {
            w.step(r);
        }
        w.now += 10;
    }
    let made = w.made_by_operator();
    let v = w.latest().clone();
    let recorded = v.id.clone();
    match made.as_slice() {
        [one] if recorded.as_deref() == Some(one) && v.status_id.as_deref() == Some(one) => Ok(()),
        _ => Err(format!(
            "made {made:?}, recorded {recorded:?}, status {:?}, intent {:?}",
            v.status_id, v.intent
        )),
    }
}

#[test]
fn thousands_of_schedules_make_one_organization_and_record_its_id() {
    let mut ran = 0;
    for seed in 0..4000u64 {
        for (mode, namesake) in [("AdoptOrCreate", false), ("Create", true)] {
            if let Err(e) = run(seed, mode, namesake) {
                panic!("seed {seed}, creationMode {mode}: {e}");
            }
            ran += 1;
        }
    }
    println!("create model: {ran} schedules, 0 duplicates, 0 lost ids");
    assert_eq!(ran, 8000);
}

/// The schedule the journal got wrong: a create that may have happened (P1), retried after the
/// window with a new intent (P2) whose POST lands and whose answer is lost, then read by another
/// replica while Graph's list still lags. With one record, P2 replaced P1: waited for, adopted.
#[test]
fn a_retried_create_whose_answer_is_lost_is_adopted_not_repeated() {
    let mut w = World::new(0, "AdoptOrCreate", false);
    w.faults = false;
    // Replica 0 writes P1; its POST breaks before Graph commits (the intent stays).
    w.step(0); // read
    w.step(0); // plan: create
    w.step(0); // P1
    assert!(w.latest().intent.is_some());
    w.replicas[0] = Step::Idle;
    // The window passes with nothing listed: replica 0 writes P2 and its POST commits, but the
    // answer is lost.
    w.now += WINDOW_SECS + 1;
    w.step(0); // read
    w.step(0); // plan: create again
    let p2 = match &w.replicas[0] {
        Step::WriteIntent { intent, .. } => intent.clone(),
        other => panic!("expected a second intent, got {other:?}"),
    };
    w.step(0); // P2 replaces P1, conditionally
    assert_eq!(w.latest().intent.as_ref(), Some(&p2));
    w.create_in_graph();
    w.replicas[0] = Step::Idle;
    // Replica 1, while the list still lags: it sees P2, waits.
    w.now += 1;
    w.step(1);
    w.step(1);
    assert!(
        matches!(w.replicas[1], Step::Idle),
        "waits: {:?}",
        w.replicas[1]
    );
    assert_eq!(w.made_by_operator().len(), 1);
    // Once listed, adopted.
    w.now += LIST_LAG_SECS;
    for _ in 0..4 {
        w.step(1);
    }
    assert_eq!(w.made_by_operator().len(), 1, "no second create");
    assert_eq!(w.latest().id, w.made_by_operator().first().cloned());
}
