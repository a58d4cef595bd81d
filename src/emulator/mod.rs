//! The local Microsoft Graph emulator (work in progress).

/// Command-line arguments of `graph-org-operator emulator`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {}

pub async fn run(_args: EmulatorArgs) -> anyhow_free::Result {
    Ok(())
}

mod anyhow_free {
    pub type Result = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;
}
