//! `graph-emulator`: the local Microsoft Graph + Entra token endpoint, as a process. Prints one
//! JSON line with its URLs when ready; stops on SIGTERM or Ctrl-C.

use clap::Parser;

/// A local Microsoft Graph + Entra token endpoint emulator (loopback only by default).
#[derive(Parser)]
#[command(name = "graph-emulator", version)]
struct Cli {
    #[command(flatten)]
    args: graph_emulator::EmulatorArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match graph_emulator::run(cli.args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
