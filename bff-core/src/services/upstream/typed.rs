//! The typed calls service clients make: JSON reads (one item, a batch,
//! an optional item where 404 means absent), decoded answers shared from
//! the cache, and JSON writes. Each is one logical call through the cache
//! and the call layers; bodies are decoded here, once.

use super::*;

impl Upstream {
    /// `GET path` parsed as `T`. A 404 is an `UpstreamError::Status`.
    /// A cached answer is parsed once and shared (`Arc`) by later readers.
    pub async fn get_json<T>(
        &self,
        ctx: &RequestContext,
        path: &str,
    ) -> Result<Fetched<Arc<T>>, UpstreamError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.get_decoded(ctx, path, false, |_, body| self.parse(body))
            .await
    }

    /// `GET path` parsed as `T`; a 404 is `None` (a single lookup of an
    /// unknown id is not an error).
    pub async fn get_json_opt<T>(
        &self,
        ctx: &RequestContext,
        path: &str,
    ) -> Result<Fetched<Arc<Option<T>>>, UpstreamError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.get_decoded(ctx, path, true, |status, body| self.parse_opt(status, body))
            .await
    }

    /// [`Self::get_json_opt`] from a fresh cached answer, without going
    /// async; `None` when there is none (see [`Self::get_decoded_fresh`]).
    pub fn get_json_opt_fresh<T>(
        &self,
        ctx: &RequestContext,
        path: &str,
    ) -> Option<Result<Fetched<Arc<Option<T>>>, UpstreamError>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.get_decoded_fresh(ctx, path, |status, body| self.parse_opt(status, body))
    }

    /// A body as `T`, a 404 as `None`.
    pub(super) fn parse_opt<T: DeserializeOwned>(
        &self,
        status: u16,
        body: &[u8],
    ) -> Result<Option<T>, UpstreamError> {
        if status == 404 {
            Ok(None)
        } else {
            self.parse(body).map(Some)
        }
    }

    /// `GET path` (a 404 passed to `decode` when `allow_404`), turned into a
    /// `U` by `decode(status, body)`. When the answer came from the cache,
    /// the decoded value is kept in the entry, so a client may decode into
    /// its final shape (parse and transform) once per cached answer.
    pub async fn get_decoded<U>(
        &self,
        ctx: &RequestContext,
        path: &str,
        allow_404: bool,
        decode: impl FnOnce(u16, &[u8]) -> Result<U, UpstreamError>,
    ) -> Result<Fetched<Arc<U>>, UpstreamError>
    where
        U: Send + Sync + 'static,
    {
        let fetched = self.get(ctx, path, allow_404).await?;
        let answer = &fetched.value;
        let value = match &answer.entry {
            Some(entry) => entry.decoded(|body| decode(answer.status, body))?,
            None => Arc::new(decode(answer.status, &answer.body)?),
        };
        Ok(Fetched {
            value,
            stale: fetched.stale,
        })
    }

    /// A fresh cached answer to `GET path`, decoded as [`Self::get_decoded`]
    /// would, without going async; `None` when there is none (not cached,
    /// past its TTL, or not cacheable) and the caller takes the async path.
    /// Fan-outs try every key this way first: a warm fan-out builds no
    /// futures (each was ~2,800 instructions a key in callgrind, most of it
    /// moving the call's future into the fan-out's `FuturesUnordered`).
    pub fn get_decoded_fresh<U>(
        &self,
        ctx: &RequestContext,
        path: &str,
        decode: impl FnOnce(u16, &[u8]) -> Result<U, UpstreamError>,
    ) -> Option<Result<Fetched<Arc<U>>, UpstreamError>>
    where
        U: Send + Sync + 'static,
    {
        let key = self.cache_key(ctx, path)?;
        let entry = self.fresh_hit(self.inner.cache.get(&key).as_ref())?;
        Some(
            entry
                .decoded(|body| decode(200, body))
                .map(|value| Fetched {
                    value,
                    stale: false,
                }),
        )
    }

    /// `POST path` with a JSON body, parsed as `T`. Never cached; retried
    /// only when an `Idempotency-Key` is given (the service then answers a
    /// replay with the first result instead of acting twice).
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path: &str,
        body: &B,
        idempotency_key: Option<&str>,
    ) -> Result<T, UpstreamError> {
        let service = self.inner.name;
        let body = serde_json::to_vec(body).map_err(|_| UpstreamError::InvalidBody { service })?;
        let spec = Spec::post_json(ctx, path.to_string(), body, idempotency_key);
        let answer = self.execute(&spec).await?;
        self.parse(&answer.body)
    }

    /// Parses a body as `T`; an answer of another shape is `InvalidBody`
    /// (logged with its line and column, never its content).
    pub fn parse<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, UpstreamError> {
        serde_json::from_slice(body).map_err(|err| {
            tracing::warn!(
                service = self.inner.name,
                error_line = err.line(),
                error_column = err.column(),
                "service answered JSON of an unexpected shape"
            );
            UpstreamError::InvalidBody {
                service: self.inner.name,
            }
        })
    }
}
