//! The app's committed operations: the mobile safelist.
//!
//! With `persisted_queries = "safelist"` these are the only documents the
//! mobile client runs; the gateway hashes each file's exact text (sha256,
//! as Apollo clients do) when it starts. The files are embedded at build
//! time so a deployment cannot run with a manifest other than the one the
//! binary was tested with; a test checks every file in `operations/` is
//! listed here.

/// `(file name, exact text)` of every committed operation.
pub const ALL: &[(&str, &str)] = &[
    ("home.graphql", include_str!("../operations/home.graphql")),
    (
        "product.graphql",
        include_str!("../operations/product.graphql"),
    ),
];
