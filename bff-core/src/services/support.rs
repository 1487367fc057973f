//! What every service folder shares: id chunking, bounded fan-out, and the
//! resolve-side plumbing (finding the loaders, marking stale paths, mapping
//! errors). Service modules never import each other; they all import this.

use std::{future::Future, sync::Arc};

use async_graphql::Context;
use futures::{stream, StreamExt, TryStreamExt};

use super::{
    batch::{BatchByKey, ByKey},
    upstream::{encode_into, Fetched, UpstreamError},
    Loaders, PerRequest,
};
use crate::errors::ErrorCode;

/// Most ids one batch call may carry (the contract answers 400 beyond).
pub const MAX_IDS_PER_CALL: usize = 100;

/// Calls in flight at once when a service has no batch route (inventory,
/// recommendations): enough to hide latency, few enough not to flood a
/// legacy service from one request.
pub const FAN_OUT_CONCURRENCY: usize = 8;

/// The error type of every loader: shared, because one failed batch call
/// answers every key it carried.
pub type LoadError = Arc<UpstreamError>;

/// Sorted, de-duplicated ids in chunks of [`MAX_IDS_PER_CALL`], each chunk
/// joined as a percent-encoded `a,b,c` query value. Sorting makes the cache
/// key of a batch independent of the order resolvers asked in.
pub fn id_chunks(ids: &[String]) -> Vec<String> {
    let mut ids: Vec<&String> = ids.iter().collect();
    ids.sort();
    ids.dedup();
    ids.chunks(MAX_IDS_PER_CALL)
        .map(|chunk| {
            let mut joined = String::with_capacity(chunk.iter().map(|id| id.len() + 1).sum());
            for (i, id) in chunk.iter().enumerate() {
                if i > 0 {
                    joined.push(',');
                }
                encode_into(&mut joined, id);
            }
            joined
        })
        .collect()
}

/// Runs one batch call per chunk of ids, concurrently, and concatenates the
/// answers (their items are `Arc`s shared with the response cache, so this
/// copies pointers). Stale when any chunk was served stale; fails when any
/// chunk fails.
pub async fn batched<T, F, Fut>(ids: &[String], call: F) -> Result<Fetched<Vec<T>>, UpstreamError>
where
    T: Clone,
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Fetched<Arc<Vec<T>>>, UpstreamError>>,
{
    let results = futures::future::try_join_all(id_chunks(ids).into_iter().map(call)).await?;
    let stale = results.iter().any(|r| r.stale);
    let value = results
        .iter()
        .flat_map(|r| r.value.iter().cloned())
        .collect();
    Ok(Fetched { value, stale })
}

/// Runs `call` for each key with at most [`FAN_OUT_CONCURRENCY`] in flight,
/// keeping each key's own result (one failing key does not fail the others).
/// `now` answers a key at once when it can (a fresh cache hit): only the
/// keys it cannot answer become calls.
pub async fn fan_out<K, T, N, F, Fut>(
    keys: &[K],
    now: N,
    call: F,
) -> Vec<(K, Result<T, UpstreamError>)>
where
    K: Clone,
    N: Fn(&K) -> Option<Result<T, UpstreamError>>,
    F: Fn(K) -> Fut,
    Fut: Future<Output = Result<T, UpstreamError>>,
{
    let mut answered = Vec::with_capacity(keys.len());
    let mut pending = Vec::new();
    for key in keys {
        match now(key) {
            Some(result) => answered.push((key.clone(), result)),
            None => pending.push(key.clone()),
        }
    }
    if pending.is_empty() {
        return answered;
    }
    let called: Vec<_> = stream::iter(pending)
        .map(|key| {
            let fut = call(key.clone());
            async move { (key, fut.await) }
        })
        .buffer_unordered(FAN_OUT_CONCURRENCY)
        .collect()
        .await;
    answered.extend(called);
    answered
}

/// Like [`fan_out`] but fails on the first error (all keys fail together).
pub async fn try_fan_out<K, T, F, Fut>(keys: &[K], call: F) -> Result<Vec<(K, T)>, UpstreamError>
where
    K: Clone,
    F: Fn(K) -> Fut,
    Fut: Future<Output = Result<T, UpstreamError>>,
{
    stream::iter(keys.iter().cloned())
        .map(|key| {
            let fut = call(key.clone());
            async move { fut.await.map(|v| (key, v)) }
        })
        .buffer_unordered(FAN_OUT_CONCURRENCY)
        .try_collect()
        .await
}

/// The request's [`Loaders`], which the edge puts in the request data.
pub fn loaders<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Loaders> {
    ctx.data::<Loaders>().map_err(|_| {
        tracing::error!("Loaders missing from the request data");
        ErrorCode::InternalServerError.error("internal error")
    })
}

/// Unwraps a fetched value, recording the field's path as stale if it was.
pub fn take<T>(ctx: &Context<'_>, loaders: &Loaders, fetched: Fetched<T>) -> T {
    if fetched.stale {
        match ctx.path_node.as_ref() {
            Some(path) => loaders.context().mark_stale(path.to_string()),
            None => loaders.context().mark_stale("?"),
        }
    }
    fetched.value
}

/// One item by key through the request's batch loader of a [`BatchByKey`]
/// service (batched with every other lookup of that service in the
/// request): `None` for an unknown key, the failure mapped once, the
/// field's path marked stale when the answer was.
pub async fn by_key<S>(ctx: &Context<'_>, key: &str) -> async_graphql::Result<Option<Arc<S::Item>>>
where
    S: BatchByKey,
    ByKey<S>: PerRequest<Key = String>,
{
    let l = loaders(ctx)?;
    let found = l
        .get::<ByKey<S>>()
        .load_one(key.to_string())
        .await
        .map_err(|e| gql(&e))?;
    Ok(found.map(|f| take(ctx, l, f)))
}

/// A page fetched with one direct call (a listing, no loader): `limit`
/// clamped to `0..=max`, no call at all for an empty page, the failure
/// mapped once, the field's path marked stale when the answer was.
/// `fetch` gets the request's loaders and the clamped limit.
pub async fn page<'a, T, Fut>(
    ctx: &'a Context<'_>,
    limit: i32,
    max: u32,
    fetch: impl FnOnce(&'a Loaders, u32) -> Fut,
) -> async_graphql::Result<Vec<T>>
where
    Fut: Future<Output = Result<Fetched<Vec<T>>, UpstreamError>>,
{
    let l = loaders(ctx)?;
    let limit = clamp(limit, max);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let fetched = fetch(l, limit).await.map_err(|e| gql(&e))?;
    Ok(take(ctx, l, fetched))
}

/// The GraphQL error of an upstream failure.
pub fn gql(err: &UpstreamError) -> async_graphql::Error {
    err.to_graphql()
}

/// Clamps a GraphQL `Int` page argument to `0..=max`.
pub fn clamp(n: i32, max: u32) -> u32 {
    u32::try_from(n).unwrap_or(0).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sorted_deduplicated_encoded_and_chunked() {
        let ids: Vec<String> = (0..250).rev().map(|i| format!("p{i}")).collect();
        let mut with_dups = ids.clone();
        with_dups.extend(ids.iter().take(10).cloned());
        let chunks = id_chunks(&with_dups);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].split(',').count(), 100);
        assert_eq!(chunks[2].split(',').count(), 50);
        assert!(chunks[0].starts_with("p0,p1,p10,"));
        assert_eq!(id_chunks(&["a,b".to_string()]), vec!["a%2Cb".to_string()]);
        assert!(id_chunks(&[]).is_empty());
    }

    #[tokio::test]
    async fn a_fan_out_calls_only_the_keys_it_cannot_answer_at_once() {
        let called = std::sync::Mutex::new(Vec::new());
        let keys: Vec<u32> = (1..=6).collect();
        let mut results = fan_out(
            &keys,
            |k: &u32| k.is_multiple_of(2).then(|| Ok(k * 10)),
            |k: u32| {
                called.lock().unwrap_or_else(|p| p.into_inner()).push(k);
                async move {
                    if k == 5 {
                        Err(UpstreamError::Timeout { service: "s" })
                    } else {
                        Ok(k * 100)
                    }
                }
            },
        )
        .await;
        results.sort_by_key(|(k, _)| *k);
        let mut called = called.into_inner().unwrap_or_default();
        called.sort_unstable();
        assert_eq!(called, vec![1, 3, 5]);
        let values: Vec<Option<u32>> = results
            .iter()
            .map(|(_, r)| r.as_ref().ok().copied())
            .collect();
        assert_eq!(
            values,
            vec![Some(100), Some(20), Some(300), Some(40), None, Some(60)]
        );
    }
}
