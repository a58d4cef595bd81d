//! Running the emulator: [`EmulatorOptions`] (how it runs), [`Emulator::start`] (the listeners
//! inside the current tokio runtime) and the [`EmulatorHandle`] that stops them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::EmulatorConfig;
use crate::emu::Emu;
use crate::faults::FaultConfig;
use crate::state::MtoTimings;
use crate::{server, tls};

/// How the emulator runs (as opposed to [`EmulatorConfig`], what the directory contains).
#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    /// Plain HTTP listener.
    pub listen: SocketAddr,
    /// HTTPS listener, with a CA generated at startup.
    pub tls_listen: Option<SocketAddr>,
    /// Emulated seconds per real second.
    pub time_scale: f64,
    /// Access-token lifetime in real seconds.
    pub token_lifetime_secs: u64,
    /// Collections longer than this are paged with `@odata.nextLink`.
    pub page_size: usize,
    /// Requests per `throttle_window` per app+tenant before 429.
    pub throttle_budget: u32,
    pub throttle_window: Duration,
    pub timings: MtoTimings,
    /// Faults active from the start (and after a reset).
    pub faults: FaultConfig,
    /// Seed for fault injection; random when absent.
    pub seed: Option<u64>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls_listen: None,
            time_scale: 1.0,
            token_lifetime_secs: 3599,
            page_size: 100,
            throttle_budget: 10_000,
            throttle_window: Duration::from_secs(10),
            timings: MtoTimings::default(),
            faults: FaultConfig::default(),
            seed: None,
        }
    }
}

/// Starts the emulator inside the current tokio runtime.
pub struct Emulator;

/// A running emulator. Dropping it stops the listeners.
pub struct EmulatorHandle {
    pub http_url: String,
    pub https_url: Option<String>,
    /// The CA certificate (PEM) that signed the HTTPS server certificate.
    pub ca_pem: Option<String>,
    pub emu: Arc<Emu>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Emulator {
    pub async fn start(
        config: EmulatorConfig,
        options: EmulatorOptions,
    ) -> Result<EmulatorHandle, String> {
        let (http_l, http_addr) = server::bind(options.listen)
            .await
            .map_err(|e| format!("binding {}: {e}", options.listen))?;
        let tls_l = match options.tls_listen {
            Some(a) => Some(
                server::bind(a)
                    .await
                    .map_err(|e| format!("binding {a}: {e}"))?,
            ),
            None => None,
        };
        // RSA key generation is CPU work; keep it off the async threads.
        let emu = tokio::task::spawn_blocking(move || Emu::new(config, options))
            .await
            .map_err(|e| e.to_string())??;
        let http_url = format!("http://{http_addr}");
        let mut origins = vec![http_url.clone()];
        let (tx, rx) = watch::channel(false);
        let router = server::router(emu.clone());
        let mut tasks = vec![tokio::spawn(server::serve(
            http_l,
            None,
            emu.clone(),
            router.clone(),
            rx.clone(),
        ))];
        let (mut https_url, mut ca_pem) = (None, None);
        if let Some((l, addr)) = tls_l {
            let t = tls::generate()?;
            let acceptor = tokio_rustls::TlsAcceptor::from(t.server_config.clone());
            tasks.push(tokio::spawn(server::serve(
                l,
                Some(acceptor),
                emu.clone(),
                router,
                rx,
            )));
            let url = format!("https://{addr}");
            origins.push(url.clone());
            https_url = Some(url);
            ca_pem = Some(t.ca_pem);
        }
        *emu.origins.lock().unwrap() = origins;
        Ok(EmulatorHandle {
            http_url,
            https_url,
            ca_pem,
            emu,
            shutdown: tx,
            tasks,
        })
    }
}

impl EmulatorHandle {
    /// The HTTPS URL if serving TLS, else the HTTP one: the authority and Graph root clients use.
    pub fn url(&self) -> &str {
        self.https_url.as_deref().unwrap_or(&self.http_url)
    }

    pub fn clock(&self) -> &Clock {
        &self.emu.clock
    }

    /// Stop accepting, let in-flight requests finish (up to 2 s), and wait.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
