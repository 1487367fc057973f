//! `bff-web` alone: the web client schema on its own listener.

// The allocator the `bff` binary uses (see src/main.rs).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    bff_core::standalone::main(bff_core::context::ClientKind::Web, bff_web::client_schema)
}
