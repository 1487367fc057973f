//! The cache in front of a call and the coalescing of identical calls:
//! a fresh hit answers at once, a miss joins the fetch already in flight
//! for the same key or starts one on a spawned task (so a client that
//! disconnects cancels only its own wait), and a failed fetch falls back to
//! a stale entry when one is kept.

use super::*;

impl Upstream {
    /// `cached` when it is inside its TTL, counted as a hit (the one
    /// definition of a hit, for the async and the synchronous path).
    pub(super) fn fresh_hit(&self, cached: Option<&Arc<Entry>>) -> Option<Arc<Entry>> {
        let entry = cached.filter(|e| e.is_fresh())?;
        self.cache_event("hit");
        Some(Arc::clone(entry))
    }

    /// The answer's key in the response cache (`None`: not cached). A
    /// shared answer's key is its path, borrowed: a hit allocates nothing.
    pub(super) fn cache_key<'p>(
        &self,
        ctx: &RequestContext,
        path: &'p str,
    ) -> Option<std::borrow::Cow<'p, str>> {
        if self.inner.policy.load().cache_ttl.is_zero() {
            return None;
        }
        match self.inner.policy.load().cache_scope {
            CacheScope::Off => None,
            CacheScope::Shared => Some(std::borrow::Cow::Borrowed(path)),
            CacheScope::PerCaller => ctx
                .caller
                .identity
                .as_ref()
                .map(|id| std::borrow::Cow::Owned(format!("{}\u{0}{path}", id.sub))),
        }
    }

    pub(super) fn cache_event(&self, event: &'static str) {
        let s = &self.inner.stats;
        let (stat, slot) = match event {
            "hit" => (&s.cache_hits, 0),
            "miss" => (&s.cache_misses, 1),
            "stale" => (&s.cache_stale, 2),
            _ => (&s.coalesced, 3),
        };
        Stats::bump(stat);
        self.inner.cache_counters[slot]
            .get_or_init(|| {
                metrics::counter!(
                    names::CACHE_EVENTS_TOTAL,
                    names::LABEL_SERVICE => self.inner.name,
                    names::LABEL_EVENT => event
                )
            })
            .increment(1);
    }

    pub(super) async fn get(
        &self,
        ctx: &RequestContext,
        path: &str,
        allow_404: bool,
    ) -> Result<Fetched<Answer>, UpstreamError> {
        // What to send is built only when something is sent: a fresh hit
        // costs the key, one lookup and a counter.
        let spec = |cache| Spec {
            method: Method::GET,
            path: path.to_string(),
            headers: propagation_headers(ctx),
            body: None,
            deadline: ctx.deadline,
            idempotent: true,
            allow_404,
            waiters: None,
            cache,
            operation: None,
        };
        let fresh = |value| Fetched {
            value,
            stale: false,
        };
        let Some(key) = self.cache_key(ctx, path) else {
            return self.execute(&spec("bypass")).await.map(fresh);
        };
        let cached = self.inner.cache.get(&key);
        if let Some(entry) = self.fresh_hit(cached.as_ref()) {
            return Ok(fresh(Answer {
                status: 200,
                body: entry.body.clone(),
                cache_control: None,
                entry: Some(entry),
            }));
        }
        let spec = spec("miss");
        self.cache_event("miss");
        let (flight, _waiter) = self.flight(key.clone().into_owned(), spec);
        // Our own wait is bounded by our own deadline, whoever leads the fetch.
        let result = match tokio::time::timeout(ctx.remaining(), flight).await {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::Timeout {
                service: self.inner.name,
            }),
        };
        match result {
            Ok(answer) => Ok(fresh(answer)),
            Err(err)
                if err.is_service_failure() || matches!(err, UpstreamError::BreakerOpen { .. }) =>
            {
                // The fetch may have copied a stale entry from the shared tier.
                let cached = match cached {
                    Some(entry) => Some(entry),
                    None => self.inner.cache.get(&key),
                };
                match cached.filter(|e| e.usable_stale()) {
                    Some(entry) => {
                        self.cache_event("stale");
                        tracing::info!(
                            service = self.inner.name,
                            error = %err,
                            "served a stale cached answer"
                        );
                        Ok(Fetched {
                            value: Answer {
                                status: 200,
                                body: entry.body.clone(),
                                cache_control: None,
                                entry: Some(entry),
                            },
                            stale: true,
                        })
                    }
                    None => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }

    /// Joins the fetch in flight for `key`, or starts one on its own task;
    /// the caller holds the [`Waiter`] while it waits.
    pub(super) fn flight(&self, key: String, spec: Spec) -> (Flight, Waiter) {
        let mut inflight = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = inflight.get(&key) {
            self.cache_event("coalesced");
            return (entry.flight.clone(), Waiter::join(&entry.waiters));
        }
        let this = self.clone();
        let task_key = key.clone();
        let waiters = Arc::new(AtomicUsize::new(0));
        let mut spec = spec;
        spec.waiters = Some(waiters.clone());
        // The fetch runs on its own task but stays in the trace of the
        // request that started it.
        let span = tracing::Span::current();
        let task = tokio::spawn(tracing::Instrument::instrument(
            async move {
                // Removes the in-flight mark however the task ends.
                let _done = InflightGuard {
                    upstream: this.clone(),
                    key: task_key.clone(),
                };
                let shared = this
                    .inner
                    .shared
                    .as_ref()
                    .filter(|_| this.inner.policy.load().cache_scope == CacheScope::Shared);
                if let Some(shared) = shared {
                    if let Some(found) = shared.get(this.inner.name, &task_key).await {
                        let fresh = !found.fresh_for.is_zero();
                        let entry =
                            Entry::new(found.body.clone(), found.fresh_for, found.stale_for);
                        let entry = this.inner.cache.insert(task_key.clone(), entry);
                        this.cache_changed();
                        if fresh {
                            return Ok(Answer {
                                status: 200,
                                body: found.body,
                                cache_control: None,
                                entry: Some(entry),
                            });
                        }
                    }
                }
                let mut result = this.execute(&spec).await;
                if let Ok(answer) = &mut result {
                    if answer.status == 200 {
                        let policy = this.inner.policy.load_full();
                        if let Some(ttl) =
                            CacheControl::ttl(answer.cache_control.as_ref(), policy.cache_ttl)
                        {
                            let entry = Entry::new(answer.body.clone(), ttl, policy.stale_if_error);
                            // Every waiter decodes into the stored entry: the
                            // answer is parsed once, not again on its first hit.
                            answer.entry = Some(this.inner.cache.insert(task_key.clone(), entry));
                            this.cache_changed();
                            if let Some(shared) = shared {
                                shared
                                    .put(
                                        this.inner.name,
                                        &task_key,
                                        &answer.body,
                                        ttl,
                                        policy.stale_if_error,
                                    )
                                    .await;
                            }
                        }
                    }
                }
                result
            },
            span,
        ));
        let service = self.inner.name;
        let flight = async move {
            task.await
                .unwrap_or(Err(UpstreamError::Unreachable { service }))
        }
        .boxed()
        .shared();
        let waiter = Waiter::join(&waiters);
        inflight.insert(
            key,
            FlightEntry {
                flight: flight.clone(),
                waiters,
            },
        );
        (flight, waiter)
    }
}
