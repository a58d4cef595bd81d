use clap::{Parser, Subcommand};

/// Kubernetes operator for Microsoft Graph organizations and multi-tenant organizations.
#[derive(Parser)]
#[command(name = "graph-org-operator", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up; the size difference between the variants doesn't matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the controllers.
    Run(graph_org_operator::RunArgs),
    /// Print all CRDs as YAML (identical to crds/).
    Crds,
    /// Read existing tenants and print the manifests that describe them (YAML on stdout,
    /// progress on stderr). Exit code 0: complete; 2: a tenant or an area could not be read
    /// (named on stderr and in the YAML), the rest printed; 1: error.
    Export(graph_org_operator::export::ExportArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => graph_org_operator::run(args).await,
        Command::Export(args) => {
            return match graph_org_operator::export::export(args).await {
                Ok(outcome) => std::process::ExitCode::from(outcome.exit_code()),
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        Command::Crds => graph_org_operator::kinds::crds_yaml()
            .map(|yaml| print!("{yaml}"))
            .map_err(|e| e.into()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
