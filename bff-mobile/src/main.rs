//! `bff-mobile` alone: the mobile client schema on its own listener.

fn main() -> std::process::ExitCode {
    bff_core::standalone::main(
        bff_core::context::ClientKind::Mobile,
        bff_mobile::client_schema,
    )
}
