//! One store contract, run unchanged against SQLite and PostgreSQL.
//!
//! PostgreSQL: `SIGNPOST_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`) names a
//! server where each test creates its own fresh database.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use signpost_adapters::DeliveryEvent;
use signpost_gateway::search_index::index_entries;
use signpost_gateway::server::open_store;
use signpost_gateway::store::{
    ChangeSet, ClaimLimits, CommitOutcome, Condition, Criterion, DeadLetterAction, DeliveryState,
    IndexEntry, Instant, OutboxEntry, ResourceWrite, SearchQuery, SortOrder, Store, StoreError,
    StoredResource, now,
};
use signpost_profiles::OdsCode;

use crate::support::TempPostgres;

/// What a store's test keeps until it ends: SQLite's directory, or PostgreSQL's database (dropped
/// when the test ends, passed or failed).
type Scratch = Box<dyn Send>;

async fn sqlite() -> (Arc<dyn Store>, Scratch) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&format!(
        "sqlite://{}",
        dir.path().join("contract.db").display()
    ))
    .await
    .expect("sqlite");
    (store, Box::new(dir))
}

async fn postgres() -> (Arc<dyn Store>, Scratch) {
    let database = TempPostgres::create().await;
    let store = open_store(&database.url).await.expect("postgres");
    (store, Box::new(database))
}

fn write(resource: Value, version: i64, at: Instant) -> ResourceWrite {
    let mut resource = resource;
    resource["meta"] = json!({"versionId": version.to_string()});
    ResourceWrite {
        index: index_entries(&resource),
        resource: StoredResource {
            resource_type: resource["resourceType"].as_str().expect("type").to_owned(),
            id: resource["id"].as_str().expect("id").to_owned(),
            version,
            last_updated: at,
            body: serde_json::value::to_raw_value(&resource).expect("json"),
        },
    }
}

fn task(id: &str, status: &str) -> Value {
    json!({"resourceType": "Task", "id": id, "status": status, "intent": "order",
           "owner": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "LWS001"}}})
}

fn query(rtype: &str, criteria: Vec<Criterion>) -> SearchQuery {
    SearchQuery {
        resource_type: rtype.into(),
        criteria,
        count: 10,
        offset: 0,
        sort: SortOrder::default(),
    }
}

fn status_is(code: &str) -> Criterion {
    Criterion::Index {
        param: "status",
        any_of: vec![(None, code.into())],
    }
}

fn outbox(id: &str, task_id: &str, version: i64, destination: &str) -> OutboxEntry {
    OutboxEntry {
        id: id.into(),
        destination: OdsCode::parse(destination).expect("ods code"),
        adapter: "fhir-rest".into(),
        event: DeliveryEvent::TaskUpdated,
        task_id: task_id.into(),
        task_version: version,
        focus_id: "s1".into(),
        focus_version: 1,
        idempotency_key: format!("key-{id}"),
        correlation_id: "corr".into(),
        traceparent: None,
    }
}

/// Claim limits: `total` in all, 10 per destination unless `rooms` says otherwise.
fn limits(total: usize, rooms: &[(&str, usize)]) -> ClaimLimits {
    ClaimLimits {
        total,
        per_destination: 10,
        rooms: rooms.iter().map(|(d, n)| ((*d).to_owned(), *n)).collect(),
    }
}

async fn commit(
    store: &dyn Store,
    writes: Vec<ResourceWrite>,
    outbox: Vec<OutboxEntry>,
) -> Result<CommitOutcome, StoreError> {
    store
        .commit(ChangeSet {
            writes,
            outbox,
            condition: None,
            ..ChangeSet::default()
        })
        .await
}

async fn versions_history_and_search(store: Arc<dyn Store>) {
    let t0 = now();
    commit(
        store.as_ref(),
        vec![write(task("t1", "requested"), 1, t0)],
        vec![],
    )
    .await
    .expect("create");
    let v2 = write(task("t1", "accepted"), 2, t0.plus_millis(5));
    commit(store.as_ref(), vec![v2.clone()], vec![])
        .await
        .expect("update");
    let stale = commit(store.as_ref(), vec![v2], vec![]).await;
    assert!(
        matches!(stale, Err(StoreError::VersionConflict { current: 2, .. })),
        "{stale:?}"
    );

    let current = store
        .read("Task", "t1")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(current.version, 2);
    let body: Value = serde_json::from_str(current.body.get()).expect("json");
    assert_eq!(body["status"], "accepted");
    let v1 = store
        .vread("Task", "t1", 1)
        .await
        .expect("vread")
        .expect("v1");
    assert_eq!(
        serde_json::from_str::<Value>(v1.body.get()).expect("json")["status"],
        "requested"
    );
    let mut many: Vec<(i64, String)> = store
        .vread_many(&[
            ("Task", "t1", 2),
            ("Task", "t1", 1),
            ("Task", "t1", 3),
            ("Task", "t9", 1),
        ])
        .await
        .expect("vread_many")
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(r.body.get()).expect("json");
            (
                r.version,
                body["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    many.sort();
    assert_eq!(
        many,
        vec![(1, "requested".to_owned()), (2, "accepted".to_owned())],
        "both stored versions, and nothing for a version or resource that does not exist"
    );
    let history: Vec<i64> = store
        .history("Task", "t1")
        .await
        .expect("history")
        .iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(history, vec![2, 1]);
    assert!(store.read("Task", "nope").await.expect("read").is_none());

    // Search sees only the current version's values.
    assert_eq!(
        store
            .search(&query("Task", vec![status_is("accepted")]))
            .await
            .expect("search")
            .total,
        1
    );
    assert_eq!(
        store
            .search(&query("Task", vec![status_is("requested")]))
            .await
            .expect("search")
            .total,
        0
    );
    for n in 2..=5 {
        commit(
            store.as_ref(),
            vec![write(task(&format!("t{n}"), "requested"), 1, now())],
            vec![],
        )
        .await
        .expect("create");
    }
    let mut page = query("Task", vec![status_is("requested")]);
    page.count = 3;
    let first = store.search(&page).await.expect("page");
    assert_eq!((first.total, first.resources.len()), (4, 3));
    page.offset = 3;
    assert_eq!(store.search(&page).await.expect("page").resources.len(), 1);
    let later = query(
        "Task",
        vec![Criterion::LastUpdated(
            signpost_gateway::store::Comparator::Greater,
            t0.plus_millis(1),
        )],
    );
    assert_eq!(store.search(&later).await.expect("search").total, 5);
}

async fn conditional_creates_make_one_resource_even_when_racing(store: Arc<dyn Store>) {
    let condition = query("Task", vec![status_is("requested")]);
    let attempts = (0..8).map(|n| {
        let store = store.clone();
        let condition = condition.clone();
        tokio::spawn(async move {
            let changes = ChangeSet {
                writes: vec![write(task(&format!("race-{n}"), "requested"), 1, now())],
                outbox: vec![],
                condition: Some(Condition::IfNoneExist(condition)),
                ..ChangeSet::default()
            };
            store.commit(changes).await.expect("commit")
        })
    });
    let mut created = 0;
    for a in attempts {
        if matches!(a.await.expect("join"), CommitOutcome::Committed) {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(store.search(&condition).await.expect("search").total, 1);
}

async fn the_outbox_keeps_order_leases_and_states(store: Arc<dyn Store>) {
    let lease = Duration::from_secs(60);
    commit(
        store.as_ref(),
        vec![],
        vec![
            outbox("a1", "T", 1, "LWS001"),
            outbox("a2", "T", 2, "LWS001"),
            outbox("b1", "U", 1, "LWS001"),
            outbox("c1", "V", 1, "VCS001"),
        ],
    )
    .await
    .expect("queue");
    let ids = |claimed: &[signpost_gateway::store::ClaimedDelivery]| {
        let mut ids: Vec<String> = claimed.iter().map(|c| c.entry.id.clone()).collect();
        ids.sort();
        ids
    };
    // T's second delivery waits for its first; VCS001 has no room (e.g. its breaker is open).
    let claimed = store
        .claim_deliveries("w1", &limits(10, &[("VCS001", 0)]), lease)
        .await
        .expect("claim");
    assert_eq!(ids(&claimed), vec!["a1", "b1"]);
    assert!(
        store
            .claim_deliveries("w2", &limits(10, &[("VCS001", 0)]), lease)
            .await
            .expect("claim")
            .is_empty(),
        "leased rows are not claimed twice"
    );
    let token = |claimed: &[signpost_gateway::store::ClaimedDelivery], id: &str| {
        claimed
            .iter()
            .find(|c| c.entry.id == id)
            .map(|c| c.lease.clone())
            .expect("claimed")
    };
    assert!(
        store
            .release("b1", &token(&claimed, "b1"))
            .await
            .expect("release")
    );
    assert!(
        store
            .mark_delivered("a1", &token(&claimed, "a1"))
            .await
            .expect("delivered")
    );
    let claimed = store
        .claim_deliveries("w2", &limits(10, &[]), lease)
        .await
        .expect("claim");
    assert_eq!(ids(&claimed), vec!["a2", "b1", "c1"]);
    let c1 = token(&claimed, "c1");
    store
        .mark_retry(
            "a2",
            &token(&claimed, "a2"),
            now().plus_millis(60_000),
            "partner answered 503",
        )
        .await
        .expect("retry");
    store
        .mark_dead("b1", &token(&claimed, "b1"), "partner answered 422: no")
        .await
        .expect("dead");
    store.mark_delivered("c1", &c1).await.expect("delivered");
    let counts = store.outbox_counts().await.expect("counts");
    assert_eq!((counts.pending, counts.delivered, counts.dead), (1, 2, 1));
    assert!(counts.oldest_pending.is_some());
    assert!(
        store
            .claim_deliveries("w3", &limits(10, &[]), lease)
            .await
            .expect("claim")
            .is_empty(),
        "a2 is not due yet"
    );

    let dead = store
        .list_deliveries(DeliveryState::Dead, 10)
        .await
        .expect("list");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].id.as_str(),
            dead[0].attempts,
            dead[0].last_error.as_deref()
        ),
        ("b1", 1, Some("partner answered 422: no"))
    );
    assert_eq!(
        store.replay("b1").await.expect("replay"),
        DeadLetterAction::Done
    );
    assert_eq!(
        store.replay("c1").await.expect("replay"),
        DeadLetterAction::NotDead
    );
    assert_eq!(
        store.replay("zz").await.expect("replay"),
        DeadLetterAction::Unknown
    );
    let claimed = store
        .claim_deliveries("w3", &limits(10, &[]), lease)
        .await
        .expect("claim");
    assert_eq!(ids(&claimed), vec!["b1"]);
    assert_eq!(
        claimed[0].attempts, 0,
        "a replay starts with fresh attempts"
    );
    // A stale finisher (its lease long gone) cannot turn a delivered row dead.
    assert!(
        !store
            .mark_dead("c1", &c1, "late failure")
            .await
            .expect("mark")
    );
    assert_eq!(
        store
            .list_deliveries(DeliveryState::Delivered, 10)
            .await
            .expect("list")
            .iter()
            .filter(|d| d.id == "c1")
            .count(),
        1
    );
}

async fn a_claim_takes_no_more_than_each_destination_has_room_for(store: Arc<dyn Store>) {
    let lease = Duration::from_secs(60);
    let mut rows: Vec<OutboxEntry> = (0..6)
        .map(|n| outbox(&format!("l{n}"), &format!("L{n}"), 1, "LWS001"))
        .collect();
    rows.extend((0..3).map(|n| outbox(&format!("v{n}"), &format!("V{n}"), 1, "VCS001")));
    commit(store.as_ref(), vec![], rows).await.expect("queue");
    let destinations = |claimed: &[signpost_gateway::store::ClaimedDelivery]| {
        let mut d: Vec<(String, String)> = claimed
            .iter()
            .map(|c| (c.entry.destination.to_string(), c.entry.id.clone()))
            .collect();
        d.sort();
        d
    };
    // LWS001 has room for two, VCS001 for the default; the oldest rows of each come first.
    let claimed = store
        .claim_deliveries("w1", &limits(10, &[("LWS001", 2)]), lease)
        .await
        .expect("claim");
    let got = destinations(&claimed);
    assert_eq!(
        got,
        vec![
            ("LWS001".into(), "l0".into()),
            ("LWS001".into(), "l1".into()),
            ("VCS001".into(), "v0".into()),
            ("VCS001".into(), "v1".into()),
            ("VCS001".into(), "v2".into()),
        ]
    );
    // The total caps the claim too, and a destination with no room gets nothing.
    let claimed = store
        .claim_deliveries("w2", &limits(3, &[("VCS001", 0)]), lease)
        .await
        .expect("claim");
    assert_eq!(
        destinations(&claimed),
        vec![
            ("LWS001".into(), "l2".into()),
            ("LWS001".into(), "l3".into()),
            ("LWS001".into(), "l4".into()),
        ]
    );
    assert!(
        store
            .claim_deliveries("w3", &limits(0, &[]), lease)
            .await
            .expect("claim")
            .is_empty(),
        "a claim with no room takes nothing"
    );
}

async fn a_change_guarded_by_a_version_is_refused_when_that_version_moved(store: Arc<dyn Store>) {
    commit(
        store.as_ref(),
        vec![write(task("p1", "accepted"), 1, now())],
        vec![],
    )
    .await
    .expect("parent");
    commit(
        store.as_ref(),
        vec![write(task("p1", "cancelled"), 2, now())],
        vec![],
    )
    .await
    .expect("cancel");
    let guarded = ChangeSet {
        writes: vec![write(task("child", "requested"), 1, now())],
        outbox: vec![outbox("g1", "child", 1, "VCS001")],
        unchanged: vec![("Task".into(), "p1".into(), 1)],
        ..ChangeSet::default()
    };
    assert!(matches!(
        store.commit(guarded).await,
        Err(StoreError::VersionConflict { current: 2, .. })
    ));
    assert!(
        store.read("Task", "child").await.expect("read").is_none(),
        "nothing was written"
    );
    assert_eq!(store.outbox_counts().await.expect("counts").pending, 0);
}

async fn one_time_values_are_refused_the_second_time(store: Arc<dyn Store>) {
    let later = now().plus_millis(60_000);
    assert!(
        store
            .remember_once("jti:c1", "n1", later)
            .await
            .expect("first")
    );
    assert!(
        !store
            .remember_once("jti:c1", "n1", later)
            .await
            .expect("second")
    );
    assert!(
        store
            .remember_once("jti:c2", "n1", later)
            .await
            .expect("other scope")
    );
    assert!(store.ready().await.expect("ready"));
}

/// Tenancy's criterion: a value under any of several parameters, and only the current version's.
async fn a_value_is_found_under_any_of_several_parameters(store: Arc<dyn Store>) {
    let ods = |code: &str| json!({"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": code}});
    let mut referred = task("t1", "requested");
    referred["requester"] = ods("A81001");
    let mut other = task("t2", "requested");
    other["owner"] = ods("LWS002");
    let t0 = now();
    commit(
        store.as_ref(),
        vec![write(referred.clone(), 1, t0), write(other, 1, t0)],
        vec![],
    )
    .await
    .expect("create");
    let party = |value: &str, params: Vec<&'static str>| {
        query(
            "Task",
            vec![Criterion::IndexedUnderAny {
                params,
                value: value.into(),
            }],
        )
    };
    let found = |page: signpost_gateway::store::SearchPage| {
        let mut ids: Vec<String> = page.resources.into_iter().map(|r| r.id).collect();
        ids.sort();
        (page.total, ids)
    };
    let both = || vec!["owner", "requester"];
    let search = |q: SearchQuery| {
        let store = store.clone();
        async move { found(store.search(&q).await.expect("search")) }
    };
    assert_eq!(
        search(party("Organization/LWS001", both())).await,
        (1, vec!["t1".to_owned()]),
        "the owner of one Task"
    );
    assert_eq!(
        search(party("Organization/A81001", both())).await,
        (1, vec!["t1".to_owned()]),
        "its requester"
    );
    assert_eq!(
        search(party("Organization/A81001", vec!["owner"])).await,
        (0, vec![]),
        "a value under a parameter not asked for"
    );
    assert_eq!(
        search(party("Organization/LWS001", vec![])).await,
        (0, vec![]),
        "no parameters, no match"
    );
    // Handed to another service: the old owner no longer finds it.
    referred["owner"] = ods("LWS003");
    commit(
        store.as_ref(),
        vec![write(referred, 2, t0.plus_millis(5))],
        vec![],
    )
    .await
    .expect("update");
    assert_eq!(
        search(party("Organization/LWS001", both())).await,
        (0, vec![])
    );
    assert_eq!(
        search(party("Organization/LWS003", both())).await,
        (1, vec!["t1".to_owned()])
    );
}

async fn conditional_creates_spelled_differently_make_one_resource(store: Arc<dyn Store>) {
    const SYSTEM: &str = "https://fhir.riverside-surgery.example/referral";
    let spelled = |n: usize| {
        let system = n.is_multiple_of(2).then(|| SYSTEM.to_owned());
        query(
            "ServiceRequest",
            vec![Criterion::Index {
                param: "identifier",
                any_of: vec![(system, "RS-1".into())],
            }],
        )
    };
    let attempts = (0..12).map(|n| {
        let store = store.clone();
        let condition = spelled(n);
        tokio::spawn(async move {
            let referral = json!({"resourceType": "ServiceRequest", "id": format!("sr-{n}"),
                "status": "active", "intent": "order",
                "identifier": [{"system": SYSTEM, "value": "RS-1"}]});
            let changes = ChangeSet {
                writes: vec![write(referral, 1, now())],
                condition: Some(Condition::IfNoneExist(condition)),
                ..ChangeSet::default()
            };
            store.commit(changes).await.expect("commit")
        })
    });
    let mut created = 0;
    for a in attempts {
        if matches!(a.await.expect("join"), CommitOutcome::Committed) {
            created += 1;
        }
    }
    assert_eq!(
        created, 1,
        "identifier=system|value and identifier=value raced"
    );
    assert_eq!(store.search(&spelled(1)).await.expect("search").total, 1);
}

/// The ids of claimed rows, sorted, and each one's fencing token.
fn claimed_ids(
    claimed: &[signpost_gateway::store::ClaimedDelivery],
) -> (Vec<String>, std::collections::HashMap<String, String>) {
    let mut ids: Vec<String> = claimed.iter().map(|c| c.entry.id.clone()).collect();
    ids.sort();
    let tokens = claimed
        .iter()
        .map(|c| (c.entry.id.clone(), c.lease.clone()))
        .collect();
    (ids, tokens)
}

async fn a_dead_delivery_holds_back_its_task_until_replayed_or_discarded(store: Arc<dyn Store>) {
    let lease = Duration::from_secs(60);
    commit(
        store.as_ref(),
        vec![],
        vec![
            outbox("d1", "T", 1, "LWS001"),
            outbox("d2", "T", 2, "LWS001"),
            outbox("o1", "T", 1, "VCS001"),
            outbox("x1", "U", 1, "LWS001"),
            outbox("e1", "W", 1, "LWS001"),
            outbox("e2", "W", 2, "LWS001"),
        ],
    )
    .await
    .expect("queue");
    let room = limits(10, &[]);
    let claim = || store.claim_deliveries("w", &room, lease);
    let (ids, tokens) = claimed_ids(&claim().await.expect("claim"));
    assert_eq!(ids, vec!["d1", "e1", "o1", "x1"]);
    for dead in ["d1", "e1"] {
        assert!(
            store
                .mark_dead(dead, &tokens[dead], "partner answered 400")
                .await
                .expect("dead")
        );
    }
    for done in ["o1", "x1"] {
        assert!(
            store
                .mark_delivered(done, &tokens[done])
                .await
                .expect("delivered")
        );
    }
    assert!(
        claim().await.expect("claim").is_empty(),
        "the later versions overtook the dead deliveries"
    );

    // Replayed, the dead one goes first and the version it held back only after it.
    assert_eq!(
        store.replay("d1").await.expect("replay"),
        DeadLetterAction::Done
    );
    let (ids, tokens) = claimed_ids(&claim().await.expect("claim"));
    assert_eq!(ids, vec!["d1"]);
    assert!(
        store
            .mark_delivered("d1", &tokens["d1"])
            .await
            .expect("delivered")
    );
    let (ids, tokens) = claimed_ids(&claim().await.expect("claim"));
    assert_eq!(ids, vec!["d2"]);
    assert!(
        store
            .mark_delivered("d2", &tokens["d2"])
            .await
            .expect("delivered")
    );

    // Discarded, it lets the next go; only dead deliveries are discarded.
    assert_eq!(
        store.discard("e1").await.expect("discard"),
        DeadLetterAction::Done
    );
    let (ids, _) = claimed_ids(&claim().await.expect("claim"));
    assert_eq!(ids, vec!["e2"]);
    assert_eq!(
        store.discard("e2").await.expect("discard"),
        DeadLetterAction::NotDead
    );
    assert_eq!(
        store.discard("e1").await.expect("discard"),
        DeadLetterAction::NotDead
    );
    assert_eq!(
        store.replay("e1").await.expect("replay"),
        DeadLetterAction::NotDead
    );
    assert_eq!(
        store.discard("zz").await.expect("discard"),
        DeadLetterAction::Unknown
    );
    let counts = store.outbox_counts().await.expect("counts");
    assert_eq!(
        (
            counts.pending,
            counts.delivered,
            counts.dead,
            counts.discarded
        ),
        (1, 4, 0, 1)
    );
    let discarded = store
        .list_deliveries(DeliveryState::Discarded, 10)
        .await
        .expect("list");
    assert_eq!(discarded.len(), 1);
    assert_eq!(discarded[0].id, "e1");
}

/// What an operator's pages read: one delivery in any state (with its next attempt while
/// pending and when it was delivered), every delivery of a Task, and each partner's backlog.
async fn operators_read_deliveries_by_id_by_task_and_by_partner(store: Arc<dyn Store>) {
    let lease = Duration::from_secs(60);
    commit(
        store.as_ref(),
        vec![],
        vec![
            outbox("p1", "T", 1, "LWS001"),
            outbox("p2", "T", 2, "VCS001"),
            outbox("p3", "U", 1, "LWS001"),
        ],
    )
    .await
    .expect("queue");
    let (ids, tokens) = claimed_ids(
        &store
            .claim_deliveries("w", &limits(10, &[]), lease)
            .await
            .expect("claim"),
    );
    assert_eq!(ids, vec!["p1", "p2", "p3"]);
    assert!(store.release("p1", &tokens["p1"]).await.expect("release"));
    assert!(
        store
            .mark_delivered("p2", &tokens["p2"])
            .await
            .expect("delivered")
    );
    assert!(
        store
            .mark_dead("p3", &tokens["p3"], "partner answered 400")
            .await
            .expect("dead")
    );

    let pending = store.delivery("p1").await.expect("read").expect("p1");
    assert_eq!(pending.state, DeliveryState::Pending);
    assert!(pending.next_attempt.is_some() && pending.delivered.is_none());
    let delivered = store.delivery("p2").await.expect("read").expect("p2");
    assert_eq!(delivered.state, DeliveryState::Delivered);
    assert!(delivered.next_attempt.is_none() && delivered.delivered.is_some());
    let dead = store.delivery("p3").await.expect("read").expect("p3");
    assert_eq!(
        (dead.state, dead.last_error.as_deref(), dead.attempts),
        (DeliveryState::Dead, Some("partner answered 400"), 1)
    );
    assert!(store.delivery("zz").await.expect("read").is_none());

    let of_t: Vec<String> = store
        .task_deliveries("T", 10)
        .await
        .expect("of T")
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(of_t, vec!["p1", "p2"]);

    let partners = store.partner_outbox().await.expect("partners");
    assert_eq!(partners.len(), 1, "{partners:?}");
    assert_eq!(partners[0].organisation.as_str(), "LWS001");
    assert_eq!((partners[0].pending, partners[0].dead), (1, 1));
    assert!(partners[0].oldest_pending.is_some());
}

async fn a_late_outcome_from_a_lost_lease_changes_nothing(store: Arc<dyn Store>) {
    commit(store.as_ref(), vec![], vec![outbox("p1", "P", 1, "LWS001")])
        .await
        .expect("queue");
    // The first worker's lease runs out while it is paused; a second claims the row.
    let first = store
        .claim_deliveries("paused", &limits(10, &[]), Duration::from_millis(1))
        .await
        .expect("claim");
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = store
        .claim_deliveries("paused", &limits(10, &[]), Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(second.len(), 1, "an expired lease is claimed again");
    let (old, new) = (first[0].lease.as_str(), second[0].lease.as_str());
    assert_ne!(
        old, new,
        "each claim has its own token, even from the same worker"
    );

    // The paused worker wakes: its renewal and its outcome are refused.
    assert!(
        store
            .renew(&["p1".to_owned()], old, Duration::from_secs(60))
            .await
            .expect("renew")
            .is_empty()
    );
    assert!(!store.mark_dead("p1", old, "timed out").await.expect("mark"));
    assert!(
        !store
            .mark_retry("p1", old, now(), "timed out")
            .await
            .expect("mark")
    );
    assert!(!store.release("p1", old).await.expect("release"));
    assert_eq!(
        store
            .renew(&["p1".to_owned()], new, Duration::from_secs(60))
            .await
            .expect("renew"),
        vec!["p1".to_owned()]
    );
    assert!(store.mark_delivered("p1", new).await.expect("delivered"));
    let delivered = store
        .list_deliveries(DeliveryState::Delivered, 10)
        .await
        .expect("list");
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        (delivered[0].attempts, delivered[0].last_error.as_deref()),
        (1, None),
        "the new owner's outcome stands alone"
    );
}

async fn a_renewed_lease_is_not_claimed_by_another_worker(store: Arc<dyn Store>) {
    commit(store.as_ref(), vec![], vec![outbox("r1", "R", 1, "LWS001")])
        .await
        .expect("queue");
    let claimed = store
        .claim_deliveries("slow", &limits(10, &[]), Duration::from_millis(300))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    // A long delivery: renewed before the lease runs out, for longer than it was first given.
    let renewed = store
        .renew(
            &["r1".to_owned()],
            &claimed[0].lease,
            Duration::from_secs(60),
        )
        .await
        .expect("renew");
    assert_eq!(renewed, vec!["r1".to_owned()]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        store
            .claim_deliveries("other", &limits(10, &[]), Duration::from_secs(60))
            .await
            .expect("claim")
            .is_empty(),
        "a renewed lease still holds"
    );
}

/// Console people: an email is one account's; an invitation works once and not after it expires;
/// a session is found by its hash until ended.
async fn console_accounts_invitations_and_sessions(store: Arc<dyn Store>) {
    use signpost_gateway::store::{AccountRecord, Instant, SessionRecord, now};
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let account = AccountRecord {
        id: format!("a-{tag}"),
        organisation: "VCS001".into(),
        role: "vcs".into(),
        name: "Ada Volunteer".into(),
        email: format!("ada-{tag}@example.org"),
        password_hash: None,
    };
    assert!(store.add_account(&account).await.expect("add"));
    let twin = AccountRecord {
        id: format!("b-{tag}"),
        ..account.clone()
    };
    assert!(
        !store.add_account(&twin).await.expect("add"),
        "the email is taken"
    );
    assert_eq!(
        store.account_by_email(&account.email).await.expect("read"),
        Some(account.clone())
    );

    let at = now();
    let later = Instant(at.0 + 60_000_000);
    store
        .add_invitation(&format!("live-{tag}"), &account.id, later)
        .await
        .expect("invite");
    store
        .add_invitation(&format!("old-{tag}"), &account.id, Instant(at.0 - 1))
        .await
        .expect("invite");
    assert_eq!(
        store
            .invitation(&format!("old-{tag}"), at)
            .await
            .expect("read"),
        None
    );
    assert!(
        !store
            .accept_invitation(&format!("old-{tag}"), "$argon2id$x", at)
            .await
            .expect("accept")
    );
    assert_eq!(
        store
            .invitation(&format!("live-{tag}"), at)
            .await
            .expect("read"),
        Some(account.id.clone())
    );
    assert!(
        store
            .accept_invitation(&format!("live-{tag}"), "$argon2id$x", at)
            .await
            .expect("accept")
    );
    assert!(
        !store
            .accept_invitation(&format!("live-{tag}"), "$argon2id$y", at)
            .await
            .expect("accept"),
        "single use"
    );
    let stored = store
        .account(&account.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(stored.password_hash.as_deref(), Some("$argon2id$x"));

    let session = SessionRecord {
        id_hash: format!("s-{tag}"),
        account_id: Some(account.id.clone()),
        csrf: "token".into(),
        last_seen: at,
        expires: later,
    };
    store.add_session(&session).await.expect("session");
    assert_eq!(
        store.session(&session.id_hash).await.expect("read"),
        Some(session.clone())
    );
    store
        .touch_session(&session.id_hash, later)
        .await
        .expect("touch");
    let touched = store
        .session(&session.id_hash)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(touched.last_seen, later);
    store.end_session(&session.id_hash, at).await.expect("end");
    assert_eq!(store.session(&session.id_hash).await.expect("read"), None);
}

/// A directory entry whose capacity holds until `until` (none: nothing declared), with the
/// search rows an import writes for it.
fn declared_until(id: &str, until: Option<&str>) -> ResourceWrite {
    let mut w = write(
        json!({"resourceType": "HealthcareService", "id": id, "active": true}),
        1,
        now(),
    );
    if let Some(until) = until {
        w.index.push(IndexEntry {
            param: "capacity-until",
            system: String::new(),
            value: until.to_owned(),
        });
    }
    w
}

/// A range (a capacity's expiry) is tested for each candidate, present or absent, and gives the
/// same answer once the planner's statistics are refreshed.
async fn a_range_is_tested_per_resource_before_and_after_fresh_statistics(store: Arc<dyn Store>) {
    commit(
        store.as_ref(),
        vec![
            declared_until("holds", Some("00000000000000000500")),
            declared_until("expired", Some("00000000000000000100")),
            declared_until("undeclared", None),
        ],
        vec![],
    )
    .await
    .expect("commit");
    let ids = |present: bool| {
        let store = store.clone();
        async move {
            let mut q = query(
                "HealthcareService",
                vec![
                    Criterion::Index {
                        param: "active",
                        any_of: vec![(None, "true".into())],
                    },
                    Criterion::IndexedFrom {
                        param: "capacity-until",
                        from: "00000000000000000300".into(),
                        present,
                    },
                ],
            );
            q.sort = SortOrder::LastUpdatedAscending;
            let mut ids: Vec<String> = store
                .search(&q)
                .await
                .expect("search")
                .resources
                .into_iter()
                .map(|r| r.id)
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(ids(true).await, ["holds"]);
    assert_eq!(ids(false).await, ["expired", "undeclared"]);
    store.refresh_statistics().await.expect("statistics");
    assert_eq!(ids(true).await, ["holds"]);
    assert_eq!(ids(false).await, ["expired", "undeclared"]);
}

/// Outcomes of many deliveries arriving at once (a fast partner answering a whole claim) are
/// written together by both stores; each caller must still be told about its own row only: one
/// whose claim token is stale is refused and left pending, the others are delivered, once.
async fn outcomes_arriving_together_each_answer_for_their_own_row(store: Arc<dyn Store>) {
    let lease = Duration::from_secs(60);
    let rows: Vec<OutboxEntry> = (0..24)
        .map(|n| outbox(&format!("m{n}"), &format!("M{n}"), 1, "LWS001"))
        .collect();
    commit(store.as_ref(), vec![], rows).await.expect("queue");
    let claimed = store
        .claim_deliveries("w1", &limits(24, &[("LWS001", 24)]), lease)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 24);
    // Spawned before any is awaited, so they reach the store together.
    let marks: Vec<_> = claimed
        .iter()
        .enumerate()
        .map(|(n, c)| {
            let store = store.clone();
            // Every third caller holds a token that is not the claim's.
            let token = if n % 3 == 0 {
                format!("{}-stale", c.lease)
            } else {
                c.lease.clone()
            };
            let id = c.entry.id.clone();
            tokio::spawn(async move {
                let marked = store.mark_delivered(&id, &token).await.expect("mark");
                (id, n % 3 != 0, marked)
            })
        })
        .collect();
    let mut delivered = Vec::new();
    for mark in marks {
        let (id, holds, marked) = mark.await.expect("task");
        assert_eq!(marked, holds, "{id}: told about its own row");
        if holds {
            delivered.push(id);
        }
    }
    let mut listed: Vec<String> = store
        .list_deliveries(DeliveryState::Delivered, 100)
        .await
        .expect("delivered")
        .into_iter()
        .map(|d| {
            assert_eq!(d.attempts, 1, "{}: counted once", d.id);
            d.id
        })
        .collect();
    listed.sort();
    delivered.sort();
    assert_eq!(listed, delivered);
    let pending = store
        .list_deliveries(DeliveryState::Pending, 100)
        .await
        .expect("pending");
    assert_eq!(pending.len(), 8, "the stale callers' rows stay pending");

    // One row twice at once: the claim that lost its lease and the claim that took the row
    // after it. Only the later one marks it, and only it is told so.
    commit(
        store.as_ref(),
        vec![],
        vec![outbox("twice", "T2", 1, "LWS001")],
    )
    .await
    .expect("queue");
    let brief = Duration::from_millis(1);
    let first = store
        .claim_deliveries("w2", &limits(1, &[]), brief)
        .await
        .expect("claim");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = store
        .claim_deliveries("w3", &limits(1, &[]), lease)
        .await
        .expect("claim again");
    assert_eq!(first.len(), 1);
    assert_eq!(second.len(), 1);
    assert_eq!(
        first[0].entry.id, "twice",
        "the only row not held by the claim above"
    );
    assert_eq!(
        second[0].entry.id, "twice",
        "the same row, claimed again once its lease ran out"
    );
    let id = second[0].entry.id.clone();
    let (lost, current) = (first[0].lease.clone(), second[0].lease.clone());
    let late = tokio::spawn({
        let (store, id) = (store.clone(), id.clone());
        async move { store.mark_delivered(&id, &lost).await.expect("mark") }
    });
    let now_held = tokio::spawn({
        let (store, id) = (store.clone(), id.clone());
        async move { store.mark_delivered(&id, &current).await.expect("mark") }
    });
    assert!(!late.await.expect("task"), "the lost claim is told no");
    assert!(
        now_held.await.expect("task"),
        "the current claim is told yes"
    );
}

macro_rules! contract {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test]
                async fn sqlite() {
                    let (store, _dir) = super::sqlite().await;
                    super::$scenario(store).await;
                }

                #[tokio::test]
                async fn postgres() {
                    let (store, _dir) = super::postgres().await;
                    super::$scenario(store).await;
                }
            }
        )*
    };
}

contract!(
    versions_history_and_search,
    conditional_creates_make_one_resource_even_when_racing,
    the_outbox_keeps_order_leases_and_states,
    a_claim_takes_no_more_than_each_destination_has_room_for,
    one_time_values_are_refused_the_second_time,
    a_change_guarded_by_a_version_is_refused_when_that_version_moved,
    a_value_is_found_under_any_of_several_parameters,
    conditional_creates_spelled_differently_make_one_resource,
    a_dead_delivery_holds_back_its_task_until_replayed_or_discarded,
    operators_read_deliveries_by_id_by_task_and_by_partner,
    a_late_outcome_from_a_lost_lease_changes_nothing,
    a_renewed_lease_is_not_claimed_by_another_worker,
    console_accounts_invitations_and_sessions,
    a_range_is_tested_per_resource_before_and_after_fresh_statistics,
    outcomes_arriving_together_each_answer_for_their_own_row,
);
