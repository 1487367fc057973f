//! `bff-web` alone: the web client schema on its own listener.

// mimalloc: 8-16 % faster whole requests than the system allocator
// (`cargo bench --bench request_path`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    bff_core::standalone::main(bff_core::context::ClientKind::Web, bff_web::client_schema)
}
