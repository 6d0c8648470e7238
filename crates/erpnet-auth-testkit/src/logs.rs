//! [`CapturedLogs`]: what a test run logs, kept in memory so that the test can
//! read it (and check that no secret is in it).

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// A `tracing-subscriber` writer that keeps everything written to it.
///
/// [`install`](Self::install) makes it the process's subscriber at `TRACE`;
/// give the test a binary of its own, since a global subscriber can be set
/// once per process (and a thread-local one misses events from call sites
/// whose interest other threads cached while it was not set). For a scoped
/// subscriber of your own, use `CapturedLogs::default()` as its writer.
///
/// ```no_run
/// # #[tokio::main] async fn main() {
/// let logs = erpnet_auth_testkit::CapturedLogs::install();
/// // … run what logs …
/// assert!(!logs.text().contains("secret"));
/// # }
/// ```
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Installs a global subscriber at `TRACE`, without colours, writing
    /// here. Panics if the process already has a global subscriber.
    pub fn install() -> CapturedLogs {
        let captured = CapturedLogs::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        captured
    }

    /// Everything written so far (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The size of what was captured, not the text.
impl fmt::Debug for CapturedLogs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("CapturedLogs")
            .field("bytes", &bytes)
            .finish()
    }
}
