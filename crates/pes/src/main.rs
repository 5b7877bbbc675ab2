//! `pes`: the command line over the library (see `pes --help`).

use anyhow::Result;
use clap::{Parser, Subcommand};
use repro_core::DeviceArgs;

#[derive(Parser)]
#[command(
    name = "pes",
    about = "Persistent Evolution Strategies (Vicol et al., ICML 2021) on Burn"
)]
struct Cli {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure the pes-mnist-mlp workload (particle inner steps per second).
    Bench(pes::bench::BenchArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let (_, device) = cli.device.device()?;
    match cli.command {
        Command::Bench(args) => {
            let r = pes::bench::run(&args, &device)?;
            println!("{}", serde_json::to_string(&r)?);
        }
    }
    Ok(())
}
