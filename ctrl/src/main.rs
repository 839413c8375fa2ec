//! fnatctl: the control CLI. The shared-memory control path arrives with the control-path issue; until
//! then every command answers that it is not supported yet.

fn main() -> std::process::ExitCode {
    eprintln!("fnatctl: the control path to fnatd is not supported yet (services come from fnatd.toml)");
    std::process::ExitCode::from(2)
}
