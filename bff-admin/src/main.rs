//! `bff-admin` alone: the admin client schema on its own listener.

fn main() -> std::process::ExitCode {
    bff_core::standalone::main(
        bff_core::context::ClientKind::Admin,
        bff_admin::client_schema,
    )
}
