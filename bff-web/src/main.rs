//! `bff-web` alone: the web client schema on its own listener.

fn main() -> std::process::ExitCode {
    bff_core::standalone::main(bff_core::context::ClientKind::Web, bff_web::client_schema)
}
