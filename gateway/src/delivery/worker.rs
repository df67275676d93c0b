//! The outbox worker: claim due rows, deliver concurrently, record each outcome.
//!
//! Every adapter gets the same engine: backoff with jitter, a dead state after the last
//! attempt, a circuit breaker and an in-flight cap per partner (so a hung or failing partner
//! holds up no other), and per-Task ordering (enforced by the claim query).
//!
//! A claim waits its turn at the store's writer, so the worker claims ahead: each partner's
//! in-flight slot has a few claimed deliveries waiting behind it, a slot is freed as soon as
//! the partner answers, while the outcome is still being written, and waiting deliveries are
//! started as slots free even while the next claim is waiting. Otherwise a partner would sit
//! idle for a claim and an outcome write per delivery, and fall behind intake.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use signpost_adapters::{Delivery, DeliveryError, Outbound, StoredDelivery};
use signpost_profiles::OdsCode;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::{Backoff, Breakers};
use crate::auth::tenancy::minimise_for_vcs;
use crate::config::{DeliveryConfig, Role};
use crate::routing::Directory;
use crate::store::{ClaimLimits, ClaimedDelivery, Store, StoreError, StoredResource, now};
use crate::telemetry::{metrics, traces};
use tracing::Instrument;

/// Claimed deliveries held per in-flight slot: the one being sent and the rest waiting. A claim
/// waits for the writer's current transaction and then its own, so these keep a fast partner
/// busy through that; for a slow one they wait, their leases renewed while they do.
const HELD_PER_SLOT: usize = 8;

/// A claimed delivery and what to send.
struct Claimed {
    delivery: ClaimedDelivery,
    /// What to send and how, or why it cannot be sent.
    prepared: Result<Prepared, String>,
}

/// A delivery's adapter and the resource versions it carries, as stored. Those a VCS provider
/// is sent are parsed (to minimise them) when sent, in the delivery's own task: parsing a whole
/// claim's worth at once held up a request thread for milliseconds.
struct Prepared {
    adapter: Arc<dyn Outbound>,
    task: StoredResource,
    focus: StoredResource,
    /// A VCS provider is sent the same minimised view it would read (DESIGN.md section 5).
    to_vcs: bool,
}

/// What an adapter is handed.
enum Outgoing {
    /// The versions as stored, for an adapter to send as they are or read.
    Stored(StoredDelivery),
    /// A VCS provider's minimised view of them.
    Minimised(Delivery),
}

impl Prepared {
    /// What the adapter sends, with the trace context of the current span, or why a stored
    /// version cannot be read (a partner is never sent `null` in its place).
    fn delivery(self, claimed: &ClaimedDelivery) -> Result<Outgoing, String> {
        let entry = &claimed.entry;
        let label =
            |r: &StoredResource| format!("{}/{}/_history/{}", r.resource_type, r.id, r.version);
        let labels = self.to_vcs.then(|| (label(&self.task), label(&self.focus)));
        let stored = StoredDelivery {
            id: entry.id.clone(),
            idempotency_key: entry.idempotency_key.clone(),
            correlation_id: entry.correlation_id.clone(),
            destination: entry.destination.to_string(),
            event: entry.event,
            task: self.task.body,
            focus: self.focus.body,
            attempt: claimed.attempts + 1,
            traceparent: traces::current_traceparent(),
        };
        let Some((task_label, focus_label)) = labels else {
            return Ok(Outgoing::Stored(stored));
        };
        let minimised = |label: &str, body: &serde_json::value::RawValue| {
            let full = serde_json::from_str::<Value>(body.get())
                .map_err(|e| format!("the stored {label} cannot be read: {e}"))?;
            Ok::<_, String>(minimise_for_vcs(&full))
        };
        let task = minimised(&task_label, &stored.task)?;
        let focus = minimised(&focus_label, &stored.focus)?;
        Ok(Outgoing::Minimised(stored.carrying(task, focus)))
    }
}

/// One partner's claimed deliveries: waiting for a slot, and being sent.
#[derive(Default)]
struct Held {
    waiting: VecDeque<Claimed>,
    sending: usize,
}

impl Held {
    fn count(&self) -> usize {
        self.waiting.len() + self.sending
    }
}

/// Delivers outbox rows until told to stop.
pub struct DeliveryWorker {
    store: Arc<dyn Store>,
    directory: Arc<Directory>,
    config: DeliveryConfig,
    wake: Arc<Notify>,
    id: String,
    breakers: Arc<Mutex<Breakers>>,
    held: Mutex<HashMap<String, Held>>,
    /// Every delivery this worker holds a lease on (waiting or being sent), by id, with the
    /// claim's fencing token; renewed while held, so a long delivery keeps its lease.
    leased: Mutex<HashMap<String, String>>,
}

fn undeliverable(reason: impl Into<String>) -> DeliveryError {
    DeliveryError::permanent(reason)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Frees a partner's slot when dropped: once the partner has answered (or the attempt ended).
struct Slot<'a> {
    worker: &'a DeliveryWorker,
    partner: &'a str,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(held) = lock(&self.worker.held).get_mut(self.partner) {
            held.sending = held.sending.saturating_sub(1);
        }
        self.worker.wake.notify_one();
    }
}

impl DeliveryWorker {
    /// A worker; `wake` is notified by intake after each commit that adds outbox rows.
    pub fn new(
        store: Arc<dyn Store>,
        directory: Arc<Directory>,
        config: DeliveryConfig,
        wake: Arc<Notify>,
    ) -> Self {
        let id = format!("worker-{}", uuid::Uuid::new_v4());
        let breakers = Arc::new(Mutex::new(Breakers::from_config(&config)));
        Self {
            store,
            directory,
            config,
            wake,
            id,
            breakers,
            held: Mutex::default(),
            leased: Mutex::default(),
        }
    }

    /// Shares `breakers` (the ones operators are shown) instead of the worker's own.
    pub fn with_breakers(mut self, breakers: Arc<Mutex<Breakers>>) -> Self {
        self.breakers = breakers;
        self
    }

    /// Whether this worker still holds the lease on a delivery under this claim (a renewal may
    /// have found it lost, and a later claim may have taken it again).
    fn holds(&self, id: &str, lease: &str) -> bool {
        lock(&self.leased).get(id).is_some_and(|held| held == lease)
    }

    /// Extends the lease of every delivery held; forgets those whose lease was lost (another
    /// worker claimed them after this one was paused past the lease), so they are not sent.
    async fn renew_leases(&self, lease: Duration) {
        let mut by_claim: HashMap<String, Vec<String>> = HashMap::new();
        for (id, token) in lock(&self.leased).iter() {
            by_claim.entry(token.clone()).or_default().push(id.clone());
        }
        for (token, ids) in by_claim {
            match self.store.renew(&ids, &token, lease).await {
                Ok(renewed) => {
                    // Those finished meanwhile were forgotten already.
                    for id in ids.iter().filter(|id| !renewed.contains(id)) {
                        if self.forget(id, &token) {
                            tracing::warn!(delivery = %id, "lost the lease on a delivery; another worker has it now");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not renew delivery leases; will retry");
                }
            }
        }
    }

    /// Partners whose breaker is open, and those on trial (one delivery at a time).
    fn breaker_states(&self) -> (Vec<String>, Vec<String>) {
        let now = Instant::now();
        let breakers = lock(&self.breakers);
        (breakers.open(now), breakers.on_trial(now))
    }

    /// What the next claim may take: nothing for a partner whose breaker is open, one for a
    /// partner on trial, and otherwise up to `HELD_PER_SLOT` per slot, less what is held.
    fn limits(&self) -> ClaimLimits {
        let (open, on_trial) = self.breaker_states();
        let held = lock(&self.held);
        let mut rooms: HashMap<String, usize> = HashMap::new();
        for (partner, h) in held.iter() {
            let bound = self.config.per_partner_concurrency * HELD_PER_SLOT;
            rooms.insert(partner.clone(), bound.saturating_sub(h.count()));
        }
        for partner in on_trial {
            let count = held.get(&partner).map_or(0, Held::count);
            rooms.insert(partner, 1usize.saturating_sub(count));
        }
        for partner in open {
            rooms.insert(partner, 0);
        }
        let total_held: usize = held.values().map(Held::count).sum();
        ClaimLimits {
            total: (self.config.concurrency * HELD_PER_SLOT).saturating_sub(total_held),
            per_destination: self.config.per_partner_concurrency * HELD_PER_SLOT,
            rooms,
        }
    }

    /// Starts every waiting delivery that has a slot; gives back those whose partner's breaker
    /// has opened since they were claimed; forgets the tasks that have finished.
    fn dispatch(self: &Arc<Self>, tasks: &mut JoinSet<()>) {
        let (open, on_trial) = self.breaker_states();
        let mut start = Vec::new();
        let mut give_back = Vec::new();
        {
            let mut held = lock(&self.held);
            let mut sending: usize = held.values().map(|h| h.sending).sum();
            for (partner, h) in held.iter_mut() {
                if open.contains(partner) {
                    give_back.extend(h.waiting.drain(..));
                    continue;
                }
                let cap = if on_trial.contains(partner) {
                    1
                } else {
                    self.config.per_partner_concurrency
                };
                while h.sending < cap && sending < self.config.concurrency {
                    let Some(claimed) = h.waiting.pop_front() else {
                        break;
                    };
                    h.sending += 1;
                    sending += 1;
                    start.push(claimed);
                }
            }
            held.retain(|_, h| h.count() > 0);
        }
        for claimed in start {
            let worker = self.clone();
            tasks.spawn(async move { worker.deliver_one(claimed).await });
        }
        for claimed in give_back {
            let worker = self.clone();
            tasks.spawn(async move { worker.give_back(&claimed.delivery).await });
        }
        while tasks.try_join_next().is_some() {}
    }

    /// Runs until `stop` turns true, then waits up to `grace` for deliveries in flight.
    pub async fn run(self, mut stop: watch::Receiver<bool>, grace: Duration) {
        let worker = Arc::new(self);
        let poll = Duration::from_millis(worker.config.poll_interval_ms);
        let lease = Duration::from_secs(worker.config.lease_seconds);
        // Renewed well before it runs out, so a renewal delayed by a busy store still lands.
        let renew_every = lease / 3;
        let mut renewed_at = Instant::now();
        let mut tasks = JoinSet::new();
        loop {
            // Checked here too: wake-ups may keep the loop from the wait below under load.
            if *stop.borrow() {
                break;
            }
            let (mut woken, mut failed) = (false, false);
            if renewed_at.elapsed() >= renew_every {
                let renew = worker.renew_leases(lease);
                worker
                    .dispatching(&mut tasks, &stop, &mut woken, renew)
                    .await;
                renewed_at = Instant::now();
            }
            worker.dispatch(&mut tasks);
            let limits = worker.limits();
            let claimed = if limits.total == 0 {
                Vec::new()
            } else {
                let claim = worker.store.claim_deliveries(&worker.id, &limits, lease);
                match worker
                    .dispatching(&mut tasks, &stop, &mut woken, claim)
                    .await
                {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not claim deliveries; will retry");
                        failed = true;
                        Vec::new()
                    }
                }
            };
            if !claimed.is_empty() {
                let taken: Vec<(String, String)> = claimed
                    .iter()
                    .map(|c| (c.entry.id.clone(), c.lease.clone()))
                    .collect();
                lock(&worker.leased).extend(taken.iter().cloned());
                let prepare = worker.prepare(claimed);
                match worker
                    .dispatching(&mut tasks, &stop, &mut woken, prepare)
                    .await
                {
                    Ok(ready) => {
                        let mut held = lock(&worker.held);
                        for claimed in ready {
                            held.entry(claimed.delivery.entry.destination.to_string())
                                .or_default()
                                .waiting
                                .push_back(claimed);
                        }
                        continue;
                    }
                    Err(e) => {
                        // Held in `leased`, they would be renewed for ever and never sent: give
                        // them back, or at least stop renewing them so that their leases expire.
                        tracing::warn!(error = %e, "could not load claimed deliveries; giving them back to be claimed again");
                        for (id, lease) in &taken {
                            worker.forget(id, lease);
                            if let Err(e) = worker.store.release(id, lease).await {
                                tracing::warn!(delivery = %id, error = %e, "could not give back a delivery; it is claimed again when its lease expires");
                            }
                        }
                        // Then wait a poll interval, as after a failed claim, rather than
                        // claiming and failing again in a tight loop.
                        failed = true;
                    }
                }
            }
            if woken && !failed {
                // New rows or a free slot were announced while the claim ran: look again now
                // rather than at the next poll.
                continue;
            }
            tokio::select! {
                _ = worker.wake.notified() => {}
                _ = tokio::time::sleep(poll.min(renew_every.saturating_sub(renewed_at.elapsed()))) => {}
                _ = stop.changed() => break,
            }
        }
        // Stop claiming, give back what was never attempted, and give deliveries in flight their
        // grace period. Unfinished ones keep their lease and are picked up again after it expires.
        let waiting: Vec<Claimed> = lock(&worker.held)
            .values_mut()
            .flat_map(|h| h.waiting.drain(..).collect::<Vec<_>>())
            .collect();
        for claimed in &waiting {
            worker.give_back(&claimed.delivery).await;
        }
        let _ =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    }

    /// Awaits `work` (a claim, loading what it claimed, renewing leases), starting waiting
    /// deliveries whenever a slot frees meanwhile: each waits its turn at the store's writer,
    /// and partners whose deliveries are waiting must not sit idle for it. Nothing new starts
    /// once `stop` is set (what waits is given back instead). `woken` is set if a wake-up came.
    async fn dispatching<T>(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        stop: &watch::Receiver<bool>,
        woken: &mut bool,
        work: impl Future<Output = T>,
    ) -> T {
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = self.wake.notified() => {
                    *woken = true;
                    if !*stop.borrow() {
                        self.dispatch(tasks);
                    }
                }
            }
        }
    }

    /// Delivers in a span that continues the trace of the request that queued the delivery.
    async fn deliver_one(&self, claimed: Claimed) {
        let span = tracing::info_span!("delivery", destination = %claimed.delivery.entry.destination, adapter = %claimed.delivery.entry.adapter);
        traces::continue_trace(&span, claimed.delivery.entry.traceparent.as_deref());
        self.attempt(claimed).instrument(span).await;
    }

    async fn attempt(&self, claimed: Claimed) {
        let entry = &claimed.delivery.entry;
        let slot = Slot {
            worker: self,
            partner: entry.destination.as_str(),
        };
        let attempt = claimed.delivery.attempts + 1;
        let lease = claimed.delivery.lease.as_str();
        if !self.holds(&entry.id, lease) {
            // Another worker claimed it after this one lost the lease; it is theirs to send.
            return;
        }
        let result = match claimed.prepared {
            Ok(prepared) => {
                let adapter = prepared.adapter.clone();
                match prepared.delivery(&claimed.delivery) {
                    Ok(Outgoing::Stored(delivery)) => {
                        adapter.deliver_stored(&delivery).await.map(|_| ())
                    }
                    Ok(Outgoing::Minimised(delivery)) => {
                        adapter.deliver(&delivery).await.map(|_| ())
                    }
                    Err(reason) => Err(undeliverable(reason)),
                }
            }
            Err(reason) => Err(undeliverable(reason)),
        };
        let recorded = match result {
            Ok(()) => {
                lock(&self.breakers).success(entry.destination.as_str());
                drop(slot);
                metrics::breaker(entry.destination.as_str(), false);
                metrics::delivery(entry.adapter.as_str(), "delivered");
                tracing::info!(delivery = %entry.id, destination = %entry.destination, attempt, "delivered");
                self.store.mark_delivered(&entry.id, lease).await
            }
            Err(e @ DeliveryError::Transient { retry_after, .. })
                if attempt < self.config.max_attempts =>
            {
                let tripped =
                    lock(&self.breakers).failure(entry.destination.as_str(), Instant::now());
                drop(slot);
                if tripped {
                    metrics::breaker(entry.destination.as_str(), true);
                    tracing::warn!(destination = %entry.destination, "circuit breaker open: pausing deliveries to this partner");
                }
                let delay = Backoff::from_config(&self.config).delay(attempt, retry_after);
                metrics::delivery(entry.adapter.as_str(), "retry");
                tracing::warn!(delivery = %entry.id, destination = %entry.destination, attempt, retry_in_ms = delay.as_millis() as u64, error = %e, "delivery failed; will retry");
                let at = now().plus_millis(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
                self.store
                    .mark_retry(&entry.id, lease, at, &e.record())
                    .await
            }
            Err(e) => {
                if matches!(e, DeliveryError::Transient { .. }) {
                    lock(&self.breakers).failure(entry.destination.as_str(), Instant::now());
                }
                drop(slot);
                metrics::delivery(entry.adapter.as_str(), "dead");
                tracing::error!(delivery = %entry.id, destination = %entry.destination, attempt, error = %e, "delivery is dead");
                self.store.mark_dead(&entry.id, lease, &e.record()).await
            }
        };
        let _ = self.forget(&entry.id, lease);
        match recorded {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(delivery = %entry.id, "the lease ran out before the outcome was recorded; the worker holding it now records its own");
            }
            Err(e) => {
                tracing::error!(delivery = %entry.id, error = %e, "could not record a delivery outcome; it may be sent again");
            }
        }
    }

    /// Loads what the claimed rows deliver, in one read: the exact Task and ServiceRequest
    /// versions each row names. Done at claim time, so a delivery is ready the moment its
    /// partner has a free slot.
    async fn prepare(&self, claimed: Vec<ClaimedDelivery>) -> Result<Vec<Claimed>, StoreError> {
        let keys: Vec<(&str, &str, i64)> = claimed
            .iter()
            .flat_map(|c| {
                [
                    ("Task", c.entry.task_id.as_str(), c.entry.task_version),
                    (
                        "ServiceRequest",
                        c.entry.focus_id.as_str(),
                        c.entry.focus_version,
                    ),
                ]
            })
            .collect();
        let found = self.store.vread_many(&keys).await?;
        let found: HashMap<(&str, &str, i64), &StoredResource> = found
            .iter()
            .map(|r| ((r.resource_type.as_str(), r.id.as_str(), r.version), r))
            .collect();
        Ok(claimed
            .into_iter()
            .map(|delivery| {
                let prepared = self.prepare_one(&delivery, &found);
                Claimed { delivery, prepared }
            })
            .collect())
    }

    /// The adapter for a row's destination and the versions to send it, or why it cannot be sent.
    fn prepare_one(
        &self,
        claimed: &ClaimedDelivery,
        found: &HashMap<(&str, &str, i64), &StoredResource>,
    ) -> Result<Prepared, String> {
        let entry = &claimed.entry;
        let destination = OdsCode::parse(entry.destination.as_str()).ok();
        let Some(adapter) = destination
            .as_ref()
            .and_then(|ods| self.directory.adapter(ods).cloned())
        else {
            return Err(format!(
                "no adapter is configured for {}",
                entry.destination
            ));
        };
        let task = found.get(&("Task", entry.task_id.as_str(), entry.task_version));
        let focus = found.get(&(
            "ServiceRequest",
            entry.focus_id.as_str(),
            entry.focus_version,
        ));
        let (Some(task), Some(focus)) = (task, focus) else {
            return Err(format!(
                "Task/{}/_history/{} or ServiceRequest/{}/_history/{} is missing from the store",
                entry.task_id, entry.task_version, entry.focus_id, entry.focus_version
            ));
        };
        let to_vcs = destination
            .and_then(|ods| {
                self.directory
                    .organisation(&ods)
                    .map(|o| o.role == Role::Vcs)
            })
            .unwrap_or(false);
        Ok(Prepared {
            adapter,
            task: (*task).clone(),
            focus: (*focus).clone(),
            to_vcs,
        })
    }
}

impl DeliveryWorker {
    /// Stops renewing a delivery's lease under this claim (a later claim of it is kept);
    /// whether it was still held.
    fn forget(&self, id: &str, lease: &str) -> bool {
        let mut leased = lock(&self.leased);
        let held = leased.get(id).is_some_and(|held| held == lease);
        if held {
            leased.remove(id);
        }
        held
    }

    /// Gives a claimed delivery back untouched, so it can be claimed again at once.
    async fn give_back(&self, delivery: &ClaimedDelivery) {
        let _ = self.forget(&delivery.entry.id, &delivery.lease);
        if let Err(e) = self
            .store
            .release(&delivery.entry.id, &delivery.lease)
            .await
        {
            tracing::warn!(error = %e, "could not give back a delivery; its lease will expire");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;
    use serde_json::value::RawValue;
    use signpost_profiles::{NhsNumber, Referral};

    use super::*;
    use crate::config::Config;
    use crate::store::SqliteStore;
    use crate::workflow::referral::new_referral;

    /// A partner that counts what it is sent.
    async fn counting_partner() -> (String, Arc<AtomicUsize>) {
        let received = Arc::new(AtomicUsize::new(0));
        let count = received.clone();
        let app = axum::Router::new().route(
            "/fhir",
            axum::routing::post(move || {
                count.fetch_add(1, Ordering::SeqCst);
                async { "{}" }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/fhir"), received)
    }

    /// A link worker reached by `fhir-rest` at `url`, a practice, and an empty SQLite store in `dir`.
    async fn setup(
        url: &str,
        delivery: &str,
        dir: &tempfile::TempDir,
    ) -> (Config, Arc<Directory>, Arc<dyn Store>, String) {
        let config = Config::from_toml(
            &format!(
                "{delivery}\n[[organisation]]\nods = \"A81001\"\nname = \"Riverside Surgery\"\nrole = \"gp\"\n\
                 [[organisation]]\nods = \"LWS001\"\nname = \"Riverside Link Workers\"\nrole = \"link-worker\"\n\
                 [organisation.adapter]\nkind = \"fhir-rest\"\nurl = \"{url}\"\n"
            ),
            |_| None,
        )
        .expect("config");
        let directory = Arc::new(Directory::from_config(&config).expect("directory"));
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.expect("store"));
        (config, directory, store, url)
    }

    /// A referral from A81001 to LWS001, as intake would commit it.
    fn referral_to_link_worker(directory: &Directory) -> crate::workflow::referral::NewReferral {
        let referral = Referral {
            nhs_number: NhsNumber::parse("9434765919").expect("nhs"),
            requester: OdsCode::parse("A81001").expect("ods"),
            performers: Vec::new(),
        };
        let owner = directory
            .organisation(&OdsCode::parse("LWS001").expect("ods"))
            .expect("owner")
            .clone();
        new_referral(
            &json!({"resourceType": "ServiceRequest", "status": "active"}),
            &referral,
            &owner,
            directory,
            "corr-1",
            None,
            now(),
        )
        .expect("referral")
    }

    /// A worker running over `store` until told to stop; the stop sender and its task.
    fn start_worker(
        store: Arc<dyn Store>,
        directory: Arc<Directory>,
        config: &Config,
    ) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let worker = DeliveryWorker::new(
            store,
            directory,
            config.delivery.clone(),
            Arc::new(Notify::new()),
        );
        let (stop, stopped) = watch::channel(false);
        (
            stop,
            tokio::spawn(worker.run(stopped, Duration::from_secs(1))),
        )
    }

    /// A stored version the adapter cannot send (here a Task with no id, which `fhir-rest`
    /// cannot address on the partner's server) fails the delivery at once, with the reason, and
    /// the partner is sent nothing. (Adapters that read the versions into trees refuse one they
    /// cannot read: `signpost-adapters`' `a_stored_body_that_cannot_be_read_is_refused_unsent`.)
    #[tokio::test]
    async fn a_stored_body_that_cannot_be_sent_fails_the_delivery_with_a_reason() {
        let (url, received) = counting_partner().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let (config, directory, store, _) = setup(&url, "", &dir).await;
        let mut made = referral_to_link_worker(&directory);
        for write in &mut made.changes.writes {
            if write.resource.resource_type == "Task" {
                write.resource.body =
                    RawValue::from_string(r#"{"resourceType":"Task"}"#.into()).expect("json");
            }
        }
        store.commit(made.changes).await.expect("commit");

        let worker = DeliveryWorker::new(
            store.clone(),
            directory,
            config.delivery.clone(),
            Arc::new(Notify::new()),
        );
        let lease = Duration::from_secs(worker.config.lease_seconds);
        let claimed = store
            .claim_deliveries(&worker.id, &worker.limits(), lease)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        lock(&worker.leased).extend(
            claimed
                .iter()
                .map(|c| (c.entry.id.clone(), c.lease.clone())),
        );
        for ready in worker.prepare(claimed).await.expect("prepare") {
            worker.attempt(ready).await;
        }

        assert_eq!(
            received.load(Ordering::SeqCst),
            0,
            "the partner is sent nothing"
        );
        let dead = store
            .list_deliveries(crate::store::DeliveryState::Dead, 10)
            .await
            .expect("dead");
        assert_eq!(dead.len(), 1, "the delivery fails at once");
        let reason = dead[0].last_error.clone().unwrap_or_default();
        assert!(reason.contains("has no id"), "{reason}");
    }

    /// The store fails to load what the worker has just claimed (here: the history table is
    /// away, as when a connection is cut between the claim and the load). The claim must be
    /// given back, not held and renewed: with a long lease, a delivery kept in the renewal set
    /// is never sent, and the gateway goes silent with the referral undelivered.
    #[tokio::test]
    async fn deliveries_claimed_but_not_loaded_are_given_back_and_sent_once_the_store_recovers() {
        use sqlx::Connection;

        let (partner, received) = counting_partner().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let (config, directory, store, url) = setup(
            &partner,
            "[delivery]\nlease_seconds = 600\npoll_interval_ms = 20",
            &dir,
        )
        .await;
        store
            .commit(referral_to_link_worker(&directory).changes)
            .await
            .expect("commit");

        let mut side = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("side connection");
        // Versions are read through this view; it is dropped, then made again as it was.
        let history: String = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'resource_history'",
        )
        .fetch_one(&mut side)
        .await
        .expect("the history view");
        for statement in [
            "CREATE TABLE given_back (n INTEGER)",
            "CREATE TRIGGER given_back AFTER UPDATE OF lease_owner ON outbox \
             WHEN OLD.lease_owner IS NOT NULL AND NEW.lease_owner IS NULL \
             BEGIN INSERT INTO given_back VALUES (1); END",
            "DROP VIEW resource_history",
        ] {
            sqlx::query(statement)
                .execute(&mut side)
                .await
                .expect(statement);
        }

        let (stop, running) = start_worker(store.clone(), directory, &config);

        // Until the worker has claimed the delivery, failed to load it and given it back (a
        // claim alone is not enough: the view could come back before the load).
        let given_back = || async {
            let mut c = sqlx::SqliteConnection::connect(&url)
                .await
                .expect("connect");
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM given_back")
                .fetch_one(&mut c)
                .await
                .expect("count")
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while given_back().await == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            given_back().await >= 1,
            "a claimed delivery that could not be loaded was never given back"
        );
        sqlx::query(sqlx::AssertSqlSafe(history))
            .execute(&mut side)
            .await
            .expect("restore history");

        // Well within the 600 s lease: only a delivery given back is claimed again this soon.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while received.load(Ordering::SeqCst) == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = stop.send(true);
        running.await.expect("worker ends");
        assert_eq!(
            received.load(Ordering::SeqCst),
            1,
            "the delivery is sent once the store can load it"
        );
    }

    /// A claim can wait a long time for the store's writer (another writer holds SQLite's lock,
    /// a checkpoint, a slow disk). Deliveries already claimed must keep going to their partner
    /// meanwhile: a partner that sits idle for every claim falls behind intake (issue 27: the
    /// backlog of a 10 s burst took 10 s to drain). Here one delivery slot, eight claimed, and
    /// the writer locked from the moment the first reaches the partner: all eight must arrive
    /// while it stays locked.
    #[tokio::test]
    async fn claimed_deliveries_keep_going_out_while_the_next_claim_waits_for_the_writer() {
        use sqlx::Connection;

        // The partner holds its first request until the test lets it answer.
        let received = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let app = axum::Router::new().route(
            "/fhir",
            axum::routing::post({
                let (received, gate) = (received.clone(), gate.clone());
                move || async move {
                    if received.fetch_add(1, Ordering::SeqCst) == 0 {
                        let _ = gate.acquire().await;
                    }
                    "{}"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let partner = format!("http://{}/fhir", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });

        let dir = tempfile::tempdir().expect("tempdir");
        let (config, directory, store, url) = setup(
            &partner,
            "[delivery]\nper_partner_concurrency = 1\npoll_interval_ms = 20",
            &dir,
        )
        .await;
        for _ in 0..HELD_PER_SLOT {
            store
                .commit(referral_to_link_worker(&directory).changes)
                .await
                .expect("commit");
        }
        let (stop, running) = start_worker(store.clone(), directory, &config);

        let mut side = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("side connection");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while received.load(Ordering::SeqCst) == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let leased: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE lease_owner IS NOT NULL")
                .fetch_one(&mut side)
                .await
                .expect("leased");
        assert_eq!(
            leased, HELD_PER_SLOT as i64,
            "one claim took all eight before the first was sent"
        );
        // Every later claim and outcome now waits for this lock (up to the writer's 10 s).
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut side)
            .await
            .expect("lock the writer out");
        gate.add_permits(1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
        while received.load(Ordering::SeqCst) < HELD_PER_SLOT
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let sent_while_locked = received.load(Ordering::SeqCst);
        sqlx::query("ROLLBACK")
            .execute(&mut side)
            .await
            .expect("unlock");
        let _ = stop.send(true);
        running.await.expect("worker ends");
        assert_eq!(
            sent_while_locked, HELD_PER_SLOT,
            "every claimed delivery went out while the next claim waited for the writer"
        );
    }
}
