//! fnatd: the fnat gateway daemon.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use dataplane::config::Config;
use dataplane::daemon;

/// The fnat gateway: a DPDK L4 load balancer (IPVS semantics, FULLNAT).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The configuration file (TOML).
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// Check the configuration and exit without starting DPDK.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fnatd: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("fnatd: {}: configuration is valid", args.config.display());
        return ExitCode::SUCCESS;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("fnatd: cannot handle signal {sig}: {e}");
            return ExitCode::FAILURE;
        }
    }
    match daemon::run(&cfg, stop, |summary| println!("fnatd: ready: {summary}")) {
        Ok(report) => {
            println!("fnatd: stopped");
            print!("{}", report.render());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fnatd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
