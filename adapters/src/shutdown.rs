//! The gateway's stop signal. One [`ShutdownTrigger`] is pulled once; every long-running task
//! (the HTTP server, each poller, housekeeping) holds a [`Shutdown`] and finishes the work in
//! hand when it fires, as in mini-redis.

use tokio::sync::watch;

/// Pulled once to ask every task holding a [`Shutdown`] to stop.
pub struct ShutdownTrigger(watch::Sender<bool>);

/// A task's view of the stop signal: cheap to clone, and it stays fired once fired.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A new signal and the trigger that fires it.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    /// Whether stopping has been asked for.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until stopping is asked for (at once if it already has been, or if the trigger is
    /// gone, which can only mean the gateway itself is gone).
    pub async fn requested(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

impl ShutdownTrigger {
    /// Asks every holder of the signal to stop.
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_signal_once_fired() {
        let (trigger, shutdown) = Shutdown::new();
        let mut a = shutdown.clone();
        let mut b = shutdown;
        assert!(!a.is_requested());
        trigger.fire();
        a.requested().await;
        b.requested().await;
        assert!(a.is_requested() && b.is_requested());
    }

    #[tokio::test]
    async fn a_dropped_trigger_ends_the_wait() {
        let (trigger, mut shutdown) = Shutdown::new();
        drop(trigger);
        tokio::time::timeout(std::time::Duration::from_secs(5), shutdown.requested())
            .await
            .expect("a waiter does not hang once nothing can fire the signal");
    }
}
